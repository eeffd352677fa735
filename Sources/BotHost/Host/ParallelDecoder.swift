#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// The decode stage of the replay pipeline, on `workers` threads:
///
/// ```
/// reader ──chunks──► decode workers (N) ──in order──► apply (the caller) ──batches──► writer
/// ```
///
/// The reader copies whole lines into reusable chunks (about 1 MB each); a worker
/// tokenizes every line of a chunk onto the chunk's own token arena; the caller takes
/// the chunks back in their original order and applies each line from its tokens. So
/// events are applied in exactly the order of the file, whatever the number of
/// workers: the results cannot depend on it.
///
/// Memory is bounded: there are `2 × workers + 2` chunks, recycled. When the applier or
/// the writer is slower, the reader waits for a free chunk (backpressure) instead of
/// reading ahead.
final class ParallelDecoder: @unchecked Sendable {
    /// Lines of one chunk, their tokens and their decode results.
    final class Chunk: @unchecked Sendable {
        var sequence = 0
        var bytes: UnsafeMutableRawBufferPointer
        var used = 0
        /// Per line: start and end offsets in `bytes` (end < 0: a line too long, skipped,
        /// whose length is `-end`), the line number, and after decoding the first
        /// token's index in `tokens` (-1: a syntax error, in `errors`).
        var starts: [Int32] = []
        var ends: [Int32] = []
        var numbers: [Int] = []
        var tokenStarts: [Int32] = []
        var errors: [Int: JSONSyntaxError] = [:]
        var tokens: UnsafeMutablePointer<JSONTape.Token>
        var tokenCapacity: Int
        let decoded = Semaphore()

        init(byteCapacity: Int) {
            bytes = .allocate(byteCount: byteCapacity, alignment: 16)
            tokenCapacity = byteCapacity / 8
            tokens = .allocate(capacity: tokenCapacity)
        }

        deinit {
            bytes.deallocate()
            tokens.deallocate()
        }

        func reset(sequence: Int) {
            self.sequence = sequence
            used = 0
            starts.removeAll(keepingCapacity: true)
            ends.removeAll(keepingCapacity: true)
            numbers.removeAll(keepingCapacity: true)
            tokenStarts.removeAll(keepingCapacity: true)
            errors.removeAll(keepingCapacity: true)
        }

        /// Copies a line in; false when it does not fit (the chunk is full).
        func append(_ line: UnsafeRawBufferPointer, number: Int) -> Bool {
            if used + line.count > bytes.count {
                guard used == 0 else { return false }
                // A line longer than a whole chunk gets a chunk of its own size.
                bytes.deallocate()
                bytes = .allocate(byteCount: line.count, alignment: 16)
            }
            if line.count > 0 { (bytes.baseAddress! + used).copyMemory(from: line.baseAddress!, byteCount: line.count) }
            starts.append(Int32(used))
            ends.append(Int32(used + line.count))
            numbers.append(number)
            used += line.count
            return true
        }

        func appendTooLong(length: Int, number: Int) {
            starts.append(0)
            ends.append(-Int32(clamping: max(1, length)))
            numbers.append(number)
        }

        /// Tokenizes every line onto the chunk's arena with `tape`.
        func decode(with tape: JSONTape) {
            var next = 0
            tokenStarts.reserveCapacity(starts.count)
            for index in starts.indices {
                guard ends[index] >= 0 else {
                    tokenStarts.append(-1)
                    continue
                }
                let line = UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(bytes)[Int(starts[index])..<Int(ends[index])])
                do {
                    try tape.parse(line)
                } catch {
                    errors[index] = error
                    tokenStarts.append(-1)
                    continue
                }
                if next + tape.count > tokenCapacity {
                    let capacity = max(tokenCapacity * 2, next + tape.count)
                    let grown = UnsafeMutablePointer<JSONTape.Token>.allocate(capacity: capacity)
                    grown.moveInitialize(from: tokens, count: next)
                    tokens.deallocate()
                    tokens = grown
                    tokenCapacity = capacity
                }
                (tokens + next).initialize(from: tape.tokens, count: tape.count)
                tokenStarts.append(Int32(next))
                next += tape.count
            }
        }

        /// The root value of line `index` (valid while the chunk is not recycled).
        @inline(__always)
        func root(_ index: Int) -> JSONValue {
            let base = UnsafeRawPointer(bytes.baseAddress! + Int(starts[index])).assumingMemoryBound(to: UInt8.self)
            return JSONValue(tape: TapeView(tokens: tokens + Int(tokenStarts[index]), base: base), index: 0)
        }
    }

    let workers: Int
    private let free: BlockingQueue<Chunk>
    private let work: BlockingQueue<Chunk>
    private let ordered: BlockingQueue<Chunk>
    private var threads: [pthread_t] = []
    /// Seconds the workers spent tokenizing, summed (microseconds).
    private let decodeMicros = Atomic<Int>(0)
    /// What stopped the reader, if it failed.
    private let failure = Mutex<(any Error)?>(nil)

    init(workers: Int, chunkBytes: Int = 1 << 20) {
        self.workers = max(1, workers)
        let chunks = 2 * self.workers + 2
        free = BlockingQueue(capacity: chunks)
        work = BlockingQueue(capacity: chunks)
        ordered = BlockingQueue(capacity: chunks)
        for _ in 0..<chunks { _ = free.push(Chunk(byteCapacity: chunkBytes)) }
    }

    /// Total seconds of tokenizing over all workers.
    var decodeSeconds: Double { Double(decodeMicros.load(ordering: .relaxed)) / 1e6 }

    /// Starts the reader and the workers over `reader`.
    func start(_ unchecked: UncheckedReader) {
        for _ in 0..<workers {
            threads.append(spawnThread { [self] in
                let tape = JSONTape(initialCapacity: 4096)
                while let chunk = work.pop() {
                    let t0 = Clock.monotonicSeconds()
                    chunk.decode(with: tape)
                    decodeMicros.add(Int((Clock.monotonicSeconds() - t0) * 1e6), ordering: .relaxed)
                    chunk.decoded.signal()
                }
            })
        }
        threads.append(spawnThread { [self] in
            let reader = unchecked.reader
            var sequence = 0
            guard var chunk = free.pop() else { return }
            chunk.reset(sequence: sequence)
            func submit() -> Bool {
                guard work.push(chunk), ordered.push(chunk) else { return false }
                sequence += 1
                guard let next = free.pop() else { return false }
                chunk = next
                chunk.reset(sequence: sequence)
                return true
            }
            do {
                try reader.forEachLine { line in
                    switch line {
                    case .text(let bytes):
                        if !chunk.append(bytes, number: reader.lineNumber) {
                            guard submit() else { return false }
                            _ = chunk.append(bytes, number: reader.lineNumber)
                        }
                    case .tooLong(let length):
                        chunk.appendTooLong(length: length, number: reader.lineNumber)
                    }
                    return true
                }
                if !chunk.starts.isEmpty { _ = submit() }
            } catch {
                failure.withLock { $0 = error }
                if !chunk.starts.isEmpty { _ = submit() }
            }
            work.close()
            ordered.close()
        })
    }

    /// The next chunk in file order, decoded; nil at the end. Hand it back with
    /// ``recycle(_:)`` once its lines are applied.
    func next() -> Chunk? {
        guard let chunk = ordered.pop() else { return nil }
        chunk.decoded.wait()
        return chunk
    }

    func recycle(_ chunk: Chunk) {
        _ = free.push(chunk)
    }

    /// Stops everything (also after an early exit) and reports the reader's error.
    func finish() throws {
        work.close()
        ordered.close()
        free.close()
        for thread in threads { pthread_join(thread, nil) }
        threads.removeAll()
        if let error = failure.withLock({ $0 }) { throw error }
    }
}

/// A bounded FIFO between threads; `pop` waits for an item, `push` for room.
final class BlockingQueue<Element>: @unchecked Sendable {
    private var items: [Element?]
    private var head = 0
    private var count = 0
    private var closed = false
    private var mutex = pthread_mutex_t()
    private var notEmpty = pthread_cond_t()
    private var notFull = pthread_cond_t()

    init(capacity: Int) {
        items = Array(repeating: nil, count: max(1, capacity))
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&notEmpty, nil)
        pthread_cond_init(&notFull, nil)
    }

    deinit {
        pthread_mutex_destroy(&mutex)
        pthread_cond_destroy(&notEmpty)
        pthread_cond_destroy(&notFull)
    }

    /// Adds an item, waiting for room; false when the queue is closed.
    func push(_ item: Element) -> Bool {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        while count == items.count && !closed { pthread_cond_wait(&notFull, &mutex) }
        guard !closed else { return false }
        items[(head + count) % items.count] = item
        count += 1
        pthread_cond_signal(&notEmpty)
        return true
    }

    /// Takes the oldest item, waiting for one; nil when closed and empty.
    func pop() -> Element? {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        while count == 0 && !closed { pthread_cond_wait(&notEmpty, &mutex) }
        guard count > 0 else { return nil }
        let item = items[head]
        items[head] = nil
        head = (head + 1) % items.count
        count -= 1
        pthread_cond_signal(&notFull)
        return item
    }

    /// Items waiting.
    var depth: Int {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return count
    }

    /// Wakes every waiter; pushes fail from now on, pops drain what is left.
    func close() {
        pthread_mutex_lock(&mutex)
        closed = true
        pthread_cond_broadcast(&notEmpty)
        pthread_cond_broadcast(&notFull)
        pthread_mutex_unlock(&mutex)
    }
}

/// A counting semaphore over a mutex and a condition variable.
final class Semaphore: @unchecked Sendable {
    private var value = 0
    private var mutex = pthread_mutex_t()
    private var condition = pthread_cond_t()

    init() {
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&condition, nil)
    }

    deinit {
        pthread_mutex_destroy(&mutex)
        pthread_cond_destroy(&condition)
    }

    func signal() {
        pthread_mutex_lock(&mutex)
        value += 1
        pthread_cond_signal(&condition)
        pthread_mutex_unlock(&mutex)
    }

    func wait() {
        pthread_mutex_lock(&mutex)
        while value == 0 { pthread_cond_wait(&condition, &mutex) }
        value -= 1
        pthread_mutex_unlock(&mutex)
    }
}

/// Starts a joinable thread running `body`.
func spawnThread(_ body: @escaping @Sendable () -> Void) -> pthread_t {
    final class Box { let body: @Sendable () -> Void; init(_ body: @escaping @Sendable () -> Void) { self.body = body } }
    let box = Unmanaged.passRetained(Box(body)).toOpaque()
    var thread = pthread_t()
    pthread_create(&thread, nil, { pointer in
        let box = Unmanaged<AnyObject>.fromOpaque(pointer!).takeRetainedValue() as! Box
        box.body()
        return nil
    }, box)
    return thread
}

/// Cores, and how many decode workers pay off on them.
public enum ProcessorCount {
    public static var online: Int { max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))) }

    /// The applying thread and the writer each keep a core busy, so separate decode
    /// workers only pay off on the cores left: on 2 cores, 1 (decode inline) replays
    /// 577k events/s, 2 and 4 workers 510–535k (docs/performance.md).
    public static var defaultDecodeWorkers: Int { max(1, online - 2) }
}
