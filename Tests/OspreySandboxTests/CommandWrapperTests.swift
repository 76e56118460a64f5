import Foundation
import OspreyCore
import OspreySandbox
import OspreyTesting
import OspreyTools
import Testing

/// Dangerous commands and inline code behind wrappers, pipes and other spellings: the same rules as their plain form.
struct CommandWrapperTests {
    static let policy = CommandPolicy()

    /// Calls `run_command` in autonomous mode with no human at hand, so anything that needs approval is refused.
    static func runAutonomously(_ command: String, jail: JailFixture) async throws -> ToolResult {
        try await jail.call("run_command", JSONValue.object(["command": .string(command)]).canonicalJSON) {
            $0.capabilities = Capabilities(exec: .sandboxed, approval: .autonomous)
            $0.sandbox = Sandbox(rung: .bare)
        }
    }

    static let hiddenDeletions = [
        "env rm -rf victim", "sh -c 'rm -rf victim'", "bash -c \"rm -rf victim\"", "timeout 5 rm -rf victim",
        "nice -n 5 rm -rf victim", "nohup rm -rf victim", "setsid rm -rf victim", "stdbuf -o0 rm -rf victim",
        "command rm -rf victim", "exec rm -rf victim", "time rm -rf victim", "ionice -c 3 rm -rf victim",
        "timeout 5 env nice rm -rf victim", "busybox rm -rf victim", "sh -c \"sh -c 'rm -rf victim'\"",
        "env -S 'rm -rf victim'", "eval rm -rf victim", "flock lockfile rm -rf victim",
        "flock lockfile -c 'rm -rf victim'", "taskset 1 rm -rf victim", "echo victim | xargs rm -r",
        "ls -d victim | xargs rm", "find victim -delete", "find . -path ./victim -delete", "find victim -exec rm {} +",
        "find victim -type f -exec rm -f {} \\;", "find victim -execdir rm {} \\;", "ls; (cd . && rm -r victim)",
        "echo $(rm -rf victim)", "env git push origin main", "timeout 5 kill -CONT 999999",
        "nohup pkill -CONT osprey-no-such-program",
        "rsync -a --delete empty/ victim/", "/bin/r? -rf victim", "r[m] -rf victim", "script -qc 'rm -rf victim'",
        "script -q -c 'rm -rf victim' /dev/null", "parallel rm -rf ::: victim",
    ]

    @Test(arguments: hiddenDeletions)
    func aDangerousCommandBehindAWrapperIsDangerousToo(line: String) {
        let (_, dangerous) = Self.policy.inventory(line)
        let decision = Self.policy.evaluate(line)
        #expect(dangerous != nil || decision != .allow, "\(line) ran without a human")
    }

    @Test(arguments: hiddenDeletions)
    func inAutonomousModeAHiddenDeletionWaitsForAHuman(line: String) async throws {
        let jail = try JailFixture()
        defer { jail.directory.remove() }
        let victim = jail.workspace.root.appendingPathComponent("victim")
        try FileManager.default.createDirectory(at: victim, withIntermediateDirectories: true)
        try "keep".write(to: victim.appendingPathComponent("file.txt"), atomically: true, encoding: .utf8)
        let result = try await Self.runAutonomously(line, jail: jail)
        #expect(result.isError, "\(line): \(result.output)")
        #expect(FileManager.default.fileExists(atPath: victim.appendingPathComponent("file.txt").path), "\(line)")
    }

    @Test(arguments: [
        ("env rm -rf build", ["env", "rm"]), ("timeout 5 make", ["timeout", "make"]),
        ("sh -c 'ls | wc -l'", ["sh", "ls", "wc"]), ("find . -exec grep x {} +", ["find", "grep"]),
    ])
    func theInventoryNamesTheProgramsInsideWrappers(line: String, programs: [String]) {
        #expect(Self.policy.inventory(line).programs == programs)
    }

    static let inlineCode = [
        "python3 -Ic 'print(1)'", "python3 -Sc 'print(1)'", "python3 -I -c 'print(1)'", "python3 -W ignore -c 1",
        "python3.12 -Ic 1", "python -OOc 1", "perl -Mstrict -e 'print 1'", "perl -lne 'print' notes.txt",
        "perl -E 'say 1'", "perl -I lib -e 1", "node -pe 1", "node --eval=1", "node --print 1", "node -r fs -e 1",
        "ruby -rjson -e 1", "ruby -I lib -e 1", "php -r 'echo 1;'", "lua -e 'print(1)'", "echo 'print(1)' | python3",
        "python3 - <<EOF\nprint(1)\nEOF", "python3 <<EOF\nprint(1)\nEOF", "python3 < ../outside/evil.py",
        "python3 /dev/stdin", "python3 /proc/self/fd/0", "python3 ../outside/evil.py", "cd /tmp && python3 evil.py",
        "echo 'echo hi' | sh", "bash -s < script.sh", "sh", "bash /dev/stdin", ". /dev/stdin", "source /dev/stdin",
        "env python3 -c 1", "timeout 5 python3 -c 1", "xargs python3", "sh -c 'python3 -c 1'",
        "find . -name '*.py' -exec python3 {} \\;", "osascript -e 1", "nice perl -e 1", "sh - < script.sh",
    ]

    @Test(arguments: inlineCode)
    func anInterpreterReadingItsProgramFromAnythingButAWorkspaceFileNeedsApproval(line: String) {
        switch Self.policy.evaluate(line) {
        case .needsApproval, .deny: break
        case .allow: Issue.record("no approval required: \(line)")
        }
    }

    @Test(arguments: [
        "python3 script.py", "python3 -u tools/run.py -c x", "python3 -m pip --version", "python3 --version",
        "node app.js", "node --check app.js", "perl -w script.pl", "ruby -I lib test.rb", "bash build.sh",
        "sh -c 'echo safe'", "php -f index.php", "lua main.lua", "python3 -W ignore script.py", "rm notes.txt",
        "find . -name '*.o'", "xargs echo < list", "timeout 5 make test", "[ -f notes.txt ] && echo yes",
        "[[ -n x ]] && echo yes", "command -v python3", "test -f x || echo no",
    ])
    func programsFromWorkspaceFilesAndHarmlessWrappersRunWithoutApproval(line: String) {
        #expect(Self.policy.evaluate(line) == .allow, "\(line)")
        #expect(Self.policy.inventory(line).dangerous == nil, "\(line)")
    }

    @Test(arguments: ["python3 -Ic \"open('made.txt','w')\"", "echo \"open('made.txt','w')\" | python3"])
    func inAutonomousModeInlineCodeWaitsForAHuman(line: String) async throws {
        let jail = try JailFixture()
        defer { jail.directory.remove() }
        let result = try await Self.runAutonomously(line, jail: jail)
        #expect(result.isError, "\(line): \(result.output)")
        #expect(!FileManager.default.fileExists(atPath: jail.workspace.root.appendingPathComponent("made.txt").path))
    }
}
