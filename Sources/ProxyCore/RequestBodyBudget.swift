/// The bytes all client connections together may hold while collecting
/// request bodies (`--buffer-request-body`): each connection reserves what
/// its buffer grows to before it grows, and gives it all back when its
/// exchange ends. A pure value, owned by the server.
struct RequestBodyBudget {
    let limit: Int
    private(set) var held = 0

    init(limit: Int) { self.limit = limit }

    /// Takes `bytes` more if they fit under the limit.
    mutating func reserve(_ bytes: Int) -> Bool {
        guard bytes <= limit - held else { return false }
        held += bytes
        return true
    }

    mutating func release(_ bytes: Int) {
        precondition(bytes <= held, "released more than was reserved")
        held -= bytes
    }
}
