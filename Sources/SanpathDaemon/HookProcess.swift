#if os(Linux)
import Glibc
import SanpathCore

/// A hook program started with posix_spawn, in a clean state whatever thread starts it:
/// signal mask empty and every signal at its default (Swift's worker threads block most
/// signals, and a child inherits the mask: Foundation's `Process` leaves a hook that cannot be
/// stopped with SIGTERM), its own process group (so a timeout reaches its children too), stdin
/// from /dev/null, stdout and stderr to `output`. (The daemon's own descriptors are opened
/// close-on-exec by NIO, SQLite and `ExecSink`; Swift cannot reach glibc's `addclosefrom_np`.)
struct HookProcess: Sendable {
    /// How it ended.
    enum Exit: Sendable, Equatable {
        case exited(Int32)
        case signalled(Int32)
    }

    /// Its pid, which is also its process group.
    let pid: pid_t

    /// Starts `argv[0]` (an absolute path) with exactly `environment`.
    static func spawn(argv: [String], environment: [String: String], output: Int32) throws(SanpathError) -> HookProcess {
        var actions = posix_spawn_file_actions_t()
        var attributes = posix_spawnattr_t()
        posix_spawn_file_actions_init(&actions)
        posix_spawnattr_init(&attributes)
        defer {
            posix_spawn_file_actions_destroy(&actions)
            posix_spawnattr_destroy(&attributes)
        }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, output, 1)
        posix_spawn_file_actions_adddup2(&actions, output, 2)

        var none = sigset_t()
        sigemptyset(&none)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP))

        let arguments = argv.map { strdup($0) } + [nil]
        let variables = environment.sorted { $0.key < $1.key }.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            arguments.forEach { free($0) }
            variables.forEach { free($0) }
        }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, argv[0], &actions, &attributes, arguments, variables)
        guard result == 0 else {
            throw SanpathError(.delivery, "cannot run \(argv[0]): \(String(cString: strerror(result)))")
        }
        return HookProcess(pid: pid)
    }

    /// Its exit, once there is one (reaped); nil while it runs.
    func poll() -> Exit? {
        var status: Int32 = 0
        let result = waitpid(pid, &status, WNOHANG)
        guard result == pid else { return nil }
        // WIFEXITED / WEXITSTATUS / WTERMSIG are macros Swift does not import
        let signal = status & 0x7f
        return signal == 0 ? .exited((status >> 8) & 0xff) : .signalled(signal)
    }

    /// Waits for the exit, looking every 10 ms (no thread of Swift's pool is blocked).
    /// Throws CancellationError when the task is cancelled; the process is then left running.
    func wait() async throws -> Exit {
        while true {
            if let exit = poll() { return exit }
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    /// SIGTERM to the whole group, SIGKILL two seconds later if anything is left, and the
    /// program reaped, in the background.
    func terminate() {
        let pid = self.pid
        kill(-pid, SIGTERM)
        Task.detached {
            let process = HookProcess(pid: pid)
            for _ in 0..<200 {
                if process.poll() != nil { break }
                try? await Task.sleep(for: .milliseconds(10))
            }
            // the group may be gone by now; ESRCH is fine
            kill(-pid, SIGKILL)
            while process.poll() == nil {
                try? await Task.sleep(for: .milliseconds(10))
            }
        }
    }
}
#endif
