import Crypto
import Foundation
public import OspreyCore

/// Signs and checks the ledger head (last seq and hash) with an HMAC key kept outside the database.
///
/// Someone who can edit `osprey.db` but cannot read the key can no longer cut the tail off the chain
/// and re-point the head: verification finds the signed head beyond the last row.
struct HeadSigner: Sendable {
    private let key: SymmetricKey
    /// The HMAC with the key already absorbed, copied for each signature: every group commit signs once, and
    /// absorbing the key (two hash blocks) was more than half of a signature's cost.
    private let keyed: HMAC<SHA256>

    init(key: [UInt8]) {
        self.key = SymmetricKey(data: key)
        keyed = HMAC<SHA256>(key: self.key)
    }

    func signature(seq: Int, hash: String) -> String {
        var mac = keyed
        var message = "osprey-ledger-head:\(seq):\(hash)"
        message.withUTF8 { mac.update(data: UnsafeRawBufferPointer($0)) }
        return mac.finalize().withUnsafeBytes { String.hex($0) }
    }

    /// The HMAC of `bytes` kept for `purpose` outside the database (the purpose is part of what is signed).
    func seal(_ bytes: [UInt8], purpose: String) -> String {
        var mac = keyed
        mac.update(data: Array("osprey-\(purpose):".utf8) + bytes)
        return mac.finalize().withUnsafeBytes { String.hex($0) }
    }

    func isSealed(_ bytes: [UInt8], purpose: String, by signature: String) -> Bool {
        guard let code = hexBytes(signature) else { return false }
        return HMAC<SHA256>.isValidAuthenticationCode(
            code,
            authenticating: Array("osprey-\(purpose):".utf8) + bytes,
            using: key
        )
    }

    func isValid(_ signature: String, seq: Int, hash: String) -> Bool {
        guard let bytes = hexBytes(signature) else { return false }
        let message = Data("osprey-ledger-head:\(seq):\(hash)".utf8)
        return HMAC<SHA256>.isValidAuthenticationCode(bytes, authenticating: message, using: key)
    }

    private func hexBytes(_ hex: String) -> [UInt8]? {
        let digits = Array(hex.utf8)
        guard digits.count == 64 else { return nil }
        var output: [UInt8] = []
        for position in stride(from: 0, to: 64, by: 2) {
            guard let byte = UInt8(String(decoding: digits[position..<position + 2], as: UTF8.self), radix: 16) else {
                return nil
            }
            output.append(byte)
        }
        return output
    }
}
