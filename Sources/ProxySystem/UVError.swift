internal import CLibUV

/// A libuv error code (a negative errno), with its symbolic name for logs.
public struct UVError: Error, Equatable, Sendable, CustomStringConvertible {
    public let code: Int32

    init(_ code: Int32) { self.code = code }

    /// `ECONNREFUSED`, `ETIMEDOUT`, ...: what a log line or metric label shows.
    public var name: String { String(cString: uv_err_name(code)) }
    public var description: String { "\(name): \(String(cString: uv_strerror(code)))" }

    public var isConnectionRefused: Bool { code == UV_ECONNREFUSED.rawValue }
    public var isConnectionReset: Bool { code == UV_ECONNRESET.rawValue }
    /// No such file: a Unix-domain socket path nothing listens on yet.
    public var isNoSuchFile: Bool { code == UV_ENOENT.rawValue }

    /// Throws when `result` is a libuv error, returns it otherwise.
    @discardableResult
    static func check(_ result: Int32) throws(UVError) -> Int32 {
        if result < 0 { throw UVError(result) }
        return result
    }
}
