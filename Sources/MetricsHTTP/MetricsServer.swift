import NIOCore
import NIOHTTP1
import NIOPosix

/// Where the scrape endpoint listens: `HOST:PORT` over TCP (`127.0.0.1:9464`, `[::1]:9464`; port 0
/// picks a free one) or a UNIX socket path (anything containing a `/`).
public enum MetricsAddress: Equatable, Sendable, CustomStringConvertible {
    case tcp(host: String, port: Int)
    case unix(path: String)

    public struct Invalid: Error, CustomStringConvertible {
        public let description: String
    }

    public init(parsing text: String) throws(Invalid) {
        if text.contains("/") {
            self = .unix(path: text)
            return
        }
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
            (0...Int(UInt16.max)).contains(port)
        else {
            throw Invalid(description: "'\(text)' is neither HOST:PORT nor a UNIX socket path")
        }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { throw Invalid(description: "'\(text)' names no host") }
        self = .tcp(host: host, port: port)
    }

    public var description: String {
        switch self {
        case .tcp(let host, let port): host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        case .unix(let path): path
        }
    }
}

/// Serves `GET /metrics` with what `render` returns (the Prometheus text format), over HTTP/1.1 on
/// one event-loop thread of its own, so a scrape never runs on a ring worker. It knows no metric.
public final class MetricsServer: Sendable {
    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"
    public static let path = "/metrics"

    private let group: MultiThreadedEventLoopGroup
    private let channel: any Channel
    /// Where it listens (the chosen port when asked for port 0).
    public let address: MetricsAddress

    public init(at address: MetricsAddress, render: @escaping @Sendable () -> [UInt8]) throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 16)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(ScrapeHandler(render: render))
                }
            }
        do {
            switch address {
            case .tcp(let host, let port):
                channel = try bootstrap.bind(host: host, port: port).wait()
                self.address = .tcp(host: host, port: channel.localAddress?.port ?? port)
            case .unix(let path):
                channel = try bootstrap.bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true).wait()
                self.address = address
            }
        } catch {
            try? group.syncShutdownGracefully()
            throw error
        }
        self.group = group
    }

    public func stop() {
        try? channel.close().wait()
        try? group.syncShutdownGracefully()
    }
}

/// One connection's requests: `GET /metrics` (and `HEAD`) get the rendering, anything else 404 or 405.
private final class ScrapeHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let render: @Sendable () -> [UInt8]
    private var request: HTTPRequestHead?

    init(render: @escaping @Sendable () -> [UInt8]) { self.render = render }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): request = head
        case .body: break  // a scrape has none; whatever comes is ignored
        case .end:
            guard let head = request else { return }
            request = nil
            respond(to: head, context: context)
        }
    }

    private func respond(to head: HTTPRequestHead, context: ChannelHandlerContext) {
        let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
        let status: HTTPResponseStatus
        var body: [UInt8]
        var headers = HTTPHeaders()
        if head.method != .GET && head.method != .HEAD {
            (status, body) = (.methodNotAllowed, Array("only GET\n".utf8))
            headers.add(name: "Allow", value: "GET, HEAD")
        } else if path == MetricsServer.path {
            (status, body) = (.ok, render())
            headers.add(name: "Content-Type", value: MetricsServer.contentType)
        } else {
            (status, body) = (.notFound, Array("metrics are at \(MetricsServer.path)\n".utf8))
        }
        if headers["Content-Type"].isEmpty { headers.add(name: "Content-Type", value: "text/plain; charset=utf-8") }
        headers.add(name: "Content-Length", value: "\(body.count)")
        if head.method == .HEAD { body = [] }
        let keepAlive = head.isKeepAlive
        headers.add(name: "Connection", value: keepAlive ? "keep-alive" : "close")
        context.write(
            wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))),
            promise: nil)
        if !body.isEmpty {
            var buffer = context.channel.allocator.buffer(capacity: body.count)
            buffer.writeBytes(body)
            context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
        }
        let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if !keepAlive {
            let channel = context.channel
            done.whenComplete { _ in channel.close(promise: nil) }
        }
    }
}
