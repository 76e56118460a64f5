import Foundation
import Logging
import NIOCore
import OspreyTesting
import Testing

@testable import OspreyStore

/// A PostgreSQL connection that the store uses synchronously.
struct PostgresConnectionTests {
    @Test(.timeLimit(.minutes(2)))
    func aStatementLeftUnansweredPastTheLimitFailsAndTheConnectionIsClosed() async throws {
        // Given a connection whose statements may go unanswered for at most half a second
        let target = try PostgresTarget(url: try await PostgresServer.sharedDatabase())
        let outcome: Result<Int, any Error> = await withCheckedContinuation { done in
            // Its waits block a thread: one of Dispatch's, as the store's own threads are, not the task pool's.
            DispatchQueue.global().async {
                do {
                    let connection = try PostgresBlockingConnection.connect(
                        to: target,
                        node: "test",
                        logger: Logger(label: "test")
                    )
                    defer { connection.close() }
                    connection.answerLimit = .milliseconds(500)
                    // A statement answered in time is answered
                    let rows = try connection.rows("SELECT 1 AS one", [])
                    let one: Int = rows[0]["one"]
                    guard rows.count == 1, one == 1 else { return done.resume(returning: .success(-1)) }
                    // When one is not (the server sleeps for a minute: as a server that went away unheard)
                    let started = ContinuousClock.now
                    do {
                        _ = try connection.execute("SELECT pg_sleep(60)", [])
                        done.resume(returning: .success(-2))
                    } catch {
                        // Then it fails well before the server would have answered, and the connection is closed
                        // (the close is under way when the wait fails)
                        let waited = ContinuousClock.now - started
                        for _ in 0..<100 where !connection.isClosed { usleep(50_000) }
                        let givenUp = connection.isClosed && waited < .seconds(30)
                        done.resume(returning: givenUp ? .failure(error) : .success(-3))
                    }
                } catch {
                    done.resume(returning: .success(-4))
                }
            }
        }
        guard case .failure(let error) = outcome else {
            Issue.record("the statement was not given up, or the connection stayed open: \(outcome)")
            return
        }
        #expect("\(error)".contains("no answer within 500 ms"), "\(error)")
    }
}
