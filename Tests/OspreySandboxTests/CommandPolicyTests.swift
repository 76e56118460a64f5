import OspreySandbox
import Testing

struct ShellParserTests {
    @Test func everyCommandOfALineIsFoundAcrossOperatorsSubstitutionsAndGroups() throws {
        let commands = try ShellParser.parse(
            #"FOO=1 ls -la "my dir" && echo $(whoami) | grep -v 'x y' ; (cd sub; make) || { rm a; } & echo `date` > out.txt 2>&1"#
        )
        #expect(
            commands.map(\.argv) == [
                ["ls", "-la", "my dir"], ["whoami"], ["echo", "$(…)"], ["grep", "-v", "x y"], ["cd", "sub"], ["make"],
                ["rm", "a"],
                ["date"], ["echo", "$(…)"],
            ]
        )
        #expect(commands[0].assignments == [SimpleCommand.Assignment(name: "FOO", value: "1")])
        #expect(commands[2].hasDynamicWords)
        #expect(commands.last?.redirections.map(\.target) == ["out.txt", "1"])
    }

    @Test func heredocBodiesAreDataNotCommands() throws {
        let commands = try ShellParser.parse("cat <<EOF > notes.txt\nrm -rf /\nEOF\necho done")
        #expect(commands.map(\.argv) == [["cat"], ["echo", "done"]])
        #expect(commands[0].redirections.map(\.kind) == [.heredoc, .write])
    }

    @Test(arguments: ["echo 'open", "echo \"open", "echo $(ls", "(ls", "ls )", "cat <<EOF\nno end"])
    func malformedLinesAreErrors(line: String) {
        #expect(throws: ShellParseError.self) { try ShellParser.parse(line) }
    }
}

struct CommandPolicyTests {
    static let policy = CommandPolicy(protectedPaths: ["/home/me/.osprey/config.toml", "/home/me/.osprey/token"])

    @Test(arguments: [
        "ls -la", "cat notes.txt | grep osprey", "swift build && swift test", "rm -rf build/", "git push origin main",
        "find . -name '*.swift' -exec wc -l {} +", "env FOO=bar make", "timeout 10 ./run.sh", "echo hi > out.txt",
        "bash -c 'echo safe'", "python3 script.py", "cat <<EOF\nrm -rf /\nEOF",
    ])
    func ordinaryCommandsAreAllowed(line: String) {
        #expect(Self.policy.evaluate(line) == .allow, "\(line)")
    }

    @Test(arguments: [
        "rm -rf /", "rm -rf ~", "rm -fr /*", "rm -r -f $HOME", "rm --no-preserve-root -rf /", "echo ok; rm -rf /",
        "ls && sudo rm x", "mkfs.ext4 /dev/sda1", "dd if=/dev/zero of=/dev/sda", ":(){ :|:& };:",
        "bomb(){ bomb|bomb& }; bomb",
        "chmod -R 777 /", "git push --force origin main", "git push origin +main", "echo x > .git/hooks/pre-commit",
        "echo 'alias ls=rm' >> ~/.bashrc", "tee /home/me/.osprey/token < x", "cp evil /home/me/.osprey/config.toml",
        "PATH=/tmp/evil ls", "LD_PRELOAD=/tmp/x.so ls", "env LD_PRELOAD=/tmp/x.so ls", "env -i PATH=/tmp ls",
        "sh -c 'rm -rf /'", "bash -lc \"sudo id\"", "xargs sudo rm < list", "find / -exec rm -rf / \\;",
        "nice -n 5 sudo id", "timeout 5 sudo id", "nohup mkfs /dev/sdb", "echo $(sudo cat /etc/shadow)",
        "busybox rm -rf /",
        "$CMD arg", "$(echo rm) -rf x", "echo 'unclosed",
    ])
    func dangerousCommandsAreDeniedWhereverTheyHide(line: String) {
        guard case .deny = Self.policy.evaluate(line) else {
            Issue.record("not denied: \(line) -> \(Self.policy.evaluate(line))")
            return
        }
    }

    @Test(arguments: [
        "python -c 'import os'", "python3 -c print(1)", "node -e 'process.exit()'", "perl -e 'print 1'",
        "ls; ruby -e 1",
    ])
    func inlineInterpreterCodeNeedsApproval(line: String) {
        guard case .needsApproval = Self.policy.evaluate(line) else {
            Issue.record("no approval required: \(line)")
            return
        }
    }
}
