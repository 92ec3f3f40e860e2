/// Where a handler that answers some chains after it returned reports them: the ring's used side.
public protocol UsedRingCompletion: AnyObject {
    /// The chain whose head is `head` is answered, with `written` bytes in its writable part.
    func complete(head: UInt16, written: UInt32)
}
