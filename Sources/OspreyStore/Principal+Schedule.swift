public import OspreyCore

extension Principal {
    /// A schedule acting when it fires (`schedule:<id>`): the submitter of the tasks it queues.
    public static func schedule(_ id: ScheduleRecord.ID) -> Principal { Principal(rawValue: "schedule:" + id.rawValue) }
}
