/// A log line's time as Eucalyptus writes it: `yyyy-MM-dd HH:mm:ss`, the host's local time, no zone.
///
/// Logs of several hosts are ordered by this value, so their clocks and zones must agree (NTP).
public struct LogTime: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    /// Seconds since 1970-01-01 00:00:00 of the same (unnamed) zone.
    public var seconds: Int

    /// Creates a time from seconds.
    public init(seconds: Int) { self.seconds = seconds }

    /// Reads `yyyy-MM-dd HH:mm:ss` from the first 19 bytes, or nil when they are not that shape.
    public init?<Bytes: RandomAccessCollection>(parsing bytes: Bytes) where Bytes.Element == UInt8, Bytes.Index == Int {
        guard bytes.count >= 19 else { return nil }
        let base = bytes.startIndex
        func digits(_ offset: Int, _ count: Int) -> Int? {
            var value = 0
            for index in offset..<(offset + count) {
                let byte = bytes[base + index]
                guard byte >= 0x30, byte <= 0x39 else { return nil }
                value = value * 10 + Int(byte - 0x30)
            }
            return value
        }
        guard bytes[base + 4] == 0x2D, bytes[base + 7] == 0x2D, bytes[base + 10] == 0x20, bytes[base + 13] == 0x3A,
            bytes[base + 16] == 0x3A, let year = digits(0, 4), let month = digits(5, 2), let day = digits(8, 2),
            let hour = digits(11, 2), let minute = digits(14, 2), let second = digits(17, 2),
            (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61
        else { return nil }
        seconds = Self.days(year: year, month: month, day: day) * 86_400 + hour * 3600 + minute * 60 + second
    }

    /// Days from 1970-01-01 to a civil date (Howard Hinnant's days_from_civil).
    static func days(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    public static func < (lhs: LogTime, rhs: LogTime) -> Bool { lhs.seconds < rhs.seconds }

    /// `yyyy-MM-dd HH:mm:ss`, as in the logs.
    public var description: String {
        let z = seconds / 86_400 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yoe + era * 400 + (month <= 2 ? 1 : 0)
        let rest = ((seconds % 86_400) + 86_400) % 86_400
        func two(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(year)-\(two(month))-\(two(day)) \(two(rest / 3600)):\(two(rest / 60 % 60)):\(two(rest % 60))"
    }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let time = LogTime(parsing: Array(text.utf8)) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not yyyy-MM-dd HH:mm:ss"))
        }
        self = time
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

/// Which program wrote a log, which decides what its statements mean.
public enum LogKind: String, Sendable, Hashable, Codable {
    /// The CLC's or SC's `cloud-output.log` (log4j with `EucaLayout`); `cloud-cluster.log` too.
    case cloudOutput = "cloud-output"
    /// The NC's `nc.log` (`util/log.c`).
    case nc
}

/// Where a line is: the file as named to the user, and its 1-based line number.
public struct LogPosition: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The file's path.
    public var file: String
    /// 1-based line number in the (decompressed) file.
    public var line: Int

    /// Creates a position.
    public init(file: String, line: Int) {
        self.file = file
        self.line = line
    }

    /// `file:line`.
    public var description: String { "\(file):\(line)" }
}

/// One log record: a timestamped line and the continuation lines (multi-line message, stack trace)
/// that followed it.
public struct LogRecord: Sendable, Hashable {
    /// When.
    public var time: LogTime
    /// The level as printed, trimmed: `INFO`, `DEBUG`, `ERROR`, `WARN`, `TRACE`, `FATAL`, `EXTRE`.
    public var level: String
    /// The thread: log4j's `%i` or the NC's `gettid()`, both cut to 9 digits; nil in the INFO layout.
    public var thread: String?
    /// log4j's logger (simple class name) or the NC's C function; nil in the INFO layout.
    public var origin: String?
    /// The message after `| `.
    public var message: String
    /// Continuation lines kept with it (at most a few), without their prefix.
    public var continuation: [String]
    /// Where it is.
    public var position: LogPosition
    /// Which program wrote it.
    public var kind: LogKind
    /// The host whose log it is (the folder it was found in).
    public var host: String

    /// Creates a record.
    public init(
        time: LogTime, level: String, thread: String? = nil, origin: String? = nil, message: String,
        continuation: [String] = [], position: LogPosition, kind: LogKind, host: String
    ) {
        self.time = time
        self.level = level
        self.thread = thread
        self.origin = origin
        self.message = message
        self.continuation = continuation
        self.position = position
        self.kind = kind
        self.host = host
    }
}

/// The two line layouts of both logs, which follow the *configured* level, not the line's:
///
/// - log4j `EucaLayout`: `%d %5.5p | %m` (INFO), `%d %5.5p %9.9i %-24.24c{1} | %m` (DEBUG/TRACE),
///   `%d %5.9p %9.9i %-24.24c{1} %-33.33f | %m` (EXTREME);
/// - the NC's `util/log.c`: `%T %L |` (INFO and above), `%T %L %t9 %m-24 |` (DEBUG/TRACE),
///   `%T %L %t9 %m-24 %F-33 |` (EXTREME).
///
/// Both are: a timestamp, one to four space-separated fields, a `|` field, one space, the message.
public enum LogLineParser {
    /// The parts of a timestamped line, or nil for any other shape (stack trace, continuation, junk).
    public static func parse(_ bytes: UnsafeBufferPointer<UInt8>) -> (time: LogTime, level: String, thread: String?, origin: String?, message: String)? {
        guard let time = LogTime(parsing: bytes), bytes.count > 20, bytes[19] == 0x20 else { return nil }
        var fields: [Substring] = []
        var index = 20
        let end = bytes.count
        // fields: runs of non-space bytes up to a lone "|"
        while index < end, fields.count <= 4 {
            while index < end, bytes[index] == 0x20 { index += 1 }
            guard index < end else { return nil }
            let start = index
            while index < end, bytes[index] != 0x20 { index += 1 }
            if index - start == 1, bytes[start] == 0x7C {
                let messageStart = index < end ? index + 1 : index
                let message = String(decoding: UnsafeBufferPointer(rebasing: bytes[messageStart..<end]), as: UTF8.self)
                switch fields.count {
                case 1: return (time, String(fields[0]), nil, nil, message)
                case 3, 4: return (time, String(fields[0]), String(fields[1]), String(fields[2]), message)
                default: return nil
                }
            }
            fields.append(Substring(String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)))
        }
        return nil
    }

    /// The same for a String (tests, small inputs).
    public static func parse(_ line: String) -> (time: LogTime, level: String, thread: String?, origin: String?, message: String)? {
        var copy = line
        return copy.withUTF8 { parse($0) }
    }

    /// The text of a continuation line: a log4j multi-line message's blanked prefix and `| ` removed;
    /// a stack trace line as it is.
    public static func continuationText(_ line: String) -> String {
        let trimmed = line.drop { $0 == " " }
        if trimmed.hasPrefix("| ") { return String(trimmed.dropFirst(2)) }
        if trimmed == "|" { return "" }
        return line
    }
}
