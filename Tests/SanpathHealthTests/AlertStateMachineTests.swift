import Foundation
import SanpathHealth
import Testing

/// Table-driven event sequences: at each step the candidates present, and the events expected.
struct Step: Sendable {
    var at: Double
    var present: [String]
    var expect: [String]  // "firing:key" / "resolved:key" / "escalated:key"
    var severity: Severity = .warning
}

func candidate(_ key: String, severity: Severity = .warning) -> AlertCandidate {
    let kind = String(key.split(separator: ":")[0])
    return AlertCandidate(key: key, kind: kind, severity: severity, summary: "summary of \(key)", maps: ["mpatha"], paths: [PathRef(device: "sdb")])
}

func run(_ steps: [Step], policy: AlertPolicy = AlertPolicy(), restored: [AlertStateMachine.Firing] = []) -> [[String]] {
    var machine = AlertStateMachine(policy: policy, restored: restored)
    return steps.map { step in
        machine.evaluate(step.present.map { candidate($0, severity: step.severity) }, monotonic: step.at, wall: Date(timeIntervalSince1970: 1000 + step.at))
            .map { event in
                if event.id.contains("/escalated") { return "escalated:\(event.alertKey)" }
                return "\(event.state.rawValue):\(event.alertKey)"
            }
    }
}

@Suite struct AlertStateMachineTests {
    static let sequences: [(String, [Step], AlertPolicy)] = [
        (
            "a lost path fires at once and resolves when it is back",
            [
                Step(at: 0, present: [], expect: []),
                Step(at: 1, present: ["path-lost:sdb"], expect: ["firing:path-lost:sdb"]),
                Step(at: 2, present: ["path-lost:sdb"], expect: []),
                Step(at: 3, present: [], expect: ["resolved:path-lost:sdb"]),
            ], AlertPolicy()
        ),
        (
            "a SAN host must stay unreachable for 30 s",
            [
                Step(at: 0, present: ["san-host-unreachable:h"], expect: []),
                Step(at: 20, present: ["san-host-unreachable:h"], expect: []),
                Step(at: 30, present: ["san-host-unreachable:h"], expect: ["firing:san-host-unreachable:h"]),
                Step(at: 40, present: [], expect: ["resolved:san-host-unreachable:h"]),
            ], AlertPolicy()
        ),
        (
            "gone before its for duration: nothing at all",
            [
                Step(at: 0, present: ["san-host-unreachable:h"], expect: []),
                Step(at: 10, present: [], expect: []),
                Step(at: 50, present: [], expect: []),
            ], AlertPolicy()
        ),
        (
            "back within the resolve hold: no resolve, no second fire",
            [
                Step(at: 0, present: ["path-lost:sdb"], expect: ["firing:path-lost:sdb"]),
                Step(at: 1, present: [], expect: []),
                Step(at: 2, present: ["path-lost:sdb"], expect: []),
                Step(at: 3, present: [], expect: []),
                Step(at: 9, present: [], expect: ["resolved:path-lost:sdb"]),
            ], AlertPolicy(resolveHold: 5)
        ),
        (
            "a flapping path stays firing until quiet for the flap hold",
            [
                Step(at: 0, present: ["path-lost:sdb"], expect: ["firing:path-lost:sdb"]),
                Step(at: 10, present: [], expect: ["resolved:path-lost:sdb"]),
                Step(at: 20, present: ["path-lost:sdb"], expect: ["firing:path-lost:sdb"]),
                Step(at: 30, present: [], expect: []),
                Step(at: 40, present: ["path-lost:sdb"], expect: []),
                Step(at: 50, present: [], expect: []),
                Step(at: 300, present: [], expect: []),
                Step(at: 350, present: [], expect: ["resolved:path-lost:sdb"]),
            ], AlertPolicy()
        ),
        (
            "two causes, two alerts, each resolving on its own",
            [
                Step(at: 0, present: ["nic-down:eth1", "path-lost:sdc"], expect: ["firing:nic-down:eth1", "firing:path-lost:sdc"]),
                Step(at: 1, present: ["nic-down:eth1"], expect: ["resolved:path-lost:sdc"]),
                Step(at: 2, present: [], expect: ["resolved:nic-down:eth1"]),
            ], AlertPolicy()
        ),
    ]

    @Test(arguments: sequences.indices)
    func eventSequences(_ index: Int) {
        let (name, steps, policy) = AlertStateMachineTests.sequences[index]
        let got = run(steps, policy: policy)
        for (step, events) in zip(steps, got) {
            #expect(events == step.expect, "\(name), at \(step.at)")
        }
    }

    @Test func losingTheLastPathEscalatesOnce() {
        let steps = [
            Step(at: 0, present: ["portal-unreachable:p"], expect: [], severity: .warning),
            Step(at: 1, present: ["portal-unreachable:p"], expect: [], severity: .critical),
            Step(at: 2, present: ["portal-unreachable:p"], expect: [], severity: .critical),
        ]
        #expect(run(steps) == [["firing:portal-unreachable:p"], ["escalated:portal-unreachable:p"], []])
    }

    @Test func eventIDsAreStablePerTransitionAndDistinct() {
        var machine = AlertStateMachine()
        let fire = machine.evaluate([candidate("path-lost:sdb")], monotonic: 0, wall: Date(timeIntervalSince1970: 5))
        let resolve = machine.evaluate([], monotonic: 1, wall: Date(timeIntervalSince1970: 6))
        #expect(fire.first?.id == "path-lost:sdb@5000/firing")
        #expect(resolve.first?.id == "path-lost:sdb@5000/resolved")
        #expect(resolve.first?.startedAt == Date(timeIntervalSince1970: 5))
        #expect(resolve.first?.summary.hasPrefix("resolved: ") == true)
    }

    /// An event id holds its alert's start in milliseconds: a path that flaps twice within one
    /// millisecond must not make two alerts with one id (the outbox would keep only the first).
    @Test func aFlapWithinOneMillisecondStillGetsItsOwnIDs() {
        var policy = AlertPolicy()
        policy.flapTransitions = 1000  // no flap damping: every transition is an event
        var machine = AlertStateMachine(policy: policy)
        let wall = Date(timeIntervalSince1970: 5)
        var ids: [String] = []
        for step in 0..<3 {
            ids += machine.evaluate([candidate("path-lost:sdb")], monotonic: Double(step), wall: wall).map(\.id)
            ids += machine.evaluate([], monotonic: Double(step) + 0.5, wall: wall).map(\.id)
        }
        #expect(
            ids == [
                "path-lost:sdb@5000/firing", "path-lost:sdb@5000/resolved", "path-lost:sdb@5001/firing", "path-lost:sdb@5001/resolved",
                "path-lost:sdb@5002/firing", "path-lost:sdb@5002/resolved",
            ])
    }

    /// A daemon restart must neither fire again nor forget the alert.
    @Test func restoredAlertsDoNotFireAgain() {
        let restored = AlertStateMachine.Firing(
            candidate: candidate("nic-down:eth1"), startedAt: Date(timeIntervalSince1970: 1), startedMonotonic: -100, flapping: false)
        #expect(run([Step(at: 0, present: ["nic-down:eth1"], expect: [])], restored: [restored]) == [[]])
        #expect(run([Step(at: 0, present: [], expect: [])], restored: [restored]) == [["resolved:nic-down:eth1"]])
    }

    /// multipathd stops, then paths fail one after another and a NIC dies: the multipathd alert
    /// fires once and takes the paths (no alert per path), the NIC has its own; multipathd back and
    /// its paths reinstated: one resolve each.
    @Test func aStoppedMultipathdIsOneAlertThroughoutAndResolvesWhenBack() {
        var host = LabHost(luns: 4)
        var machine = AlertStateMachine()
        var firing: [AlertCandidate] = []
        var time = 0.0
        func step() -> [String] {
            time += 1
            let candidates = AlertGrouping.candidates(model.findings(host.snapshot), snapshot: host.snapshot, model: model, firing: firing)
            let events = machine.evaluate(candidates, monotonic: time, wall: Date(timeIntervalSince1970: 1000 + time))
            firing = candidates
            return events.map { "\($0.state.rawValue):\($0.alertKey)" }
        }
        host.snapshot.multipathdRunning = false
        #expect(step() == ["firing:multipathd-down:multipathd"])
        host.failInDM(["sda"])
        #expect(step() == [])
        host.failInDM(["sdc", "sde"])
        #expect(step() == [])
        #expect(firing.first?.paths.map(\.device) == ["sda", "sdc", "sde"])
        host.linkDown("ini0")
        #expect(step() == ["firing:nic-down:ini0"])
        host.snapshot.nics["ini0"] = NIC(name: "ini0", operstate: "up", carrier: true)
        for i in host.snapshot.sessions.indices { host.snapshot.sessions[i].state = "LOGGED_IN" }
        for d in host.snapshot.scsiDevices.keys { host.snapshot.scsiDevices[d]?.state = "running" }
        host.snapshot.multipathdRunning = true
        #expect(step() == [], "multipathd and the NIC are back; their paths are not yet")
        for m in host.snapshot.maps.indices {
            for p in host.snapshot.maps[m].groups[0].paths.indices { host.snapshot.maps[m].groups[0].paths[p].kernelState = .active }
        }
        #expect(step().sorted() == ["resolved:multipathd-down:multipathd", "resolved:nic-down:ini0"])
    }

    @Test func deadlineTellsWhenToLookAgain() {
        var machine = AlertStateMachine()
        _ = machine.evaluate([candidate("san-host-unreachable:h")], monotonic: 100, wall: Date())
        #expect(machine.nextDeadline() == 130)
    }
}
