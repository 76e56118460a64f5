import Foundation
import Testing

@testable import OspreyGateway

/// The release itself is tested on a real gateway (`FootprintTests`), not on this process: dropping the code of a
/// process running the whole suite at once would stall every test in it while the code comes back.
@Suite struct StartupPagesTests {
    /// Four lines of each mapping as the kernel writes them; the rest of the keys do not matter.
    static func mapping(_ header: String, rss: Int, dirty: Int = 0, anonymous: Int = 0) -> String {
        """
        \(header)
        Size:               4096 kB
        Rss:                \(rss) kB
        Private_Clean:      \(rss - dirty) kB
        Private_Dirty:      \(dirty) kB
        Anonymous:          \(anonymous) kB
        VmFlags: rd ex mr mw me
        """
    }

    @Test func onlyCodeAndConstantsFromAFileThatWereNeverWrittenAreReleased() {
        let smaps = [
            Self.mapping("5594b1b18000-5594b412e000 r-xp 00000000 fe:00 16392235     /usr/bin/osprey", rss: 20696),
            Self.mapping("5594b412e000-5594b4248000 r--p 02615000 fe:00 16392235     /usr/bin/osprey", rss: 1128),
            Self.mapping(
                "5594b4248000-5594b449d000 rw-p 0272f000 fe:00 16392235     /usr/bin/osprey",
                rss: 2000,
                dirty: 1900,
                anonymous: 1900
            ),
            Self.mapping("7f00aa000000-7f00aa100000 r-xp 00000000 fe:00 77     /lib/patched.so", rss: 64, dirty: 4),
            Self.mapping("7f00ab000000-7f00ab100000 r-xp 00000000 fe:00 78     /lib/unused.so", rss: 0),
            Self.mapping("7ffd1c5f2000-7ffd1c5f4000 r-xp 00000000 00:00 0                  [vdso]", rss: 8),
            Self.mapping("7f00ac000000-7f00ac100000 r-xp 00000000 fe:00 79     /opt/a path/lib x.so", rss: 12),
            Self.mapping(
                "7f00ad000000-7f00ad004000 r--p 00200000 fe:00 80     /lib/relro.so",
                rss: 16,
                dirty: 16,
                anonymous: 16
            ),
        ].joined(separator: "\n")
        let mappings = StartupPages.mappings(smaps)
        #expect(mappings.count == 8)
        #expect(mappings[0].start == 0x5594_b1b1_8000 && mappings[0].end == 0x5594_b412_e000)
        #expect(mappings[0].residentKB == 20696)
        #expect(mappings[2].privateDirtyKB == 1900 && mappings[2].anonymousKB == 1900)
        #expect(mappings[6].path == "/opt/a path/lib x.so")
        // The binary's code and constant data, the clean library's code; not its data written at start (RELRO)
        #expect(
            mappings.filter(\.releasable).map(\.path) == ["/usr/bin/osprey", "/usr/bin/osprey", "/opt/a path/lib x.so"]
        )
    }
}
