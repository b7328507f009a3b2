import SanpathSystem
import Testing

@Suite("the malloc heap figures of the daemon's debug lines")
struct ProcessHeapTests {
    @Test("an 8 MiB allocation shows in the heap in use, and is gone from it once freed")
    func inUseFollowsAllocations() {
        let before = ProcessHeap.kilobytes()
        #expect(before.inUse > 0)
        var block: [UInt8]? = [UInt8](repeating: 1, count: 8 << 20)
        let during = ProcessHeap.kilobytes()
        #expect(during.inUse - before.inUse >= 8 * 1024 - 64, "in use \(before.inUse) -> \(during.inUse) KiB")
        #expect(block?.count == 8 << 20)
        block = nil
        let after = ProcessHeap.kilobytes()
        #expect(during.inUse - after.inUse >= 8 * 1024 - 64, "in use \(during.inUse) -> \(after.inUse) KiB")
        #expect(after.keptFree >= 0)
    }
}
