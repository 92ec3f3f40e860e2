import SpecModel

/// Turns an item's revision markers into its history, checking that every revision named exists
/// and that the markers are in order (introduced, then changed, then removed).
struct HistoryResolver {
    let revisions: [RevisionDecl]
    let diagnostics: DiagnosticCollector

    func index(_ id: Located<String>) -> Int? {
        guard let index = revisions.firstIndex(where: { $0.id.value == id.value }) else {
            let known = revisions.map(\.id.value).joined(separator: ", ")
            diagnostics.error(id.location, "unknown revision '\(id.value)' (spec.revisions: \(known))")
            return nil
        }
        return index
    }

    /// `parent`: the history of the group or struct holding the item; an item is never older than it.
    func history(_ marks: RevisionMarks, name: Located<String>, parent: ItemHistory? = nil) -> ItemHistory {
        let identity = marks.identity ?? name.value
        var since = marks.since.flatMap(index) ?? parent?.since ?? 0
        if let parent, since < parent.since {
            diagnostics.error(
                marks.since?.location ?? name.location,
                "'\(name.value)' cannot be older than what holds it (since \(revisions[parent.since].id.value))")
            since = parent.since
        }
        if marks.since != nil, let parent, since == parent.since, parent.since > 0 {
            diagnostics.warning(marks.since!.location, "'since' repeats what holds '\(name.value)'")
        }
        let removedIn = marks.removedIn.flatMap(index) ?? parent?.removedIn
        if let removedIn, removedIn <= since {
            diagnostics.error(marks.removedIn!.location, "'\(name.value)' is removed before or when it appears")
        }
        var changes: [ItemHistory.Change] = []
        for change in marks.changes {
            guard let revision = index(change.revision) else { continue }
            if revision <= since {
                diagnostics.error(
                    change.revision.location,
                    "a change in \(change.revision.value) is not after '\(name.value)' appeared")
            }
            if let last = changes.last, revision <= last.revision {
                diagnostics.error(change.revision.location, "changes must be listed oldest first, one per revision")
            }
            if let removedIn, revision >= removedIn {
                diagnostics.error(
                    change.revision.location,
                    "a change in \(change.revision.value) comes after '\(name.value)' was removed")
            }
            if change.keys.isEmpty {
                diagnostics.error(change.revision.location, "a change must keep at least one earlier key in 'was'")
            }
            changes.append(ItemHistory.Change(revision: revision, keys: change.keys, note: change.note))
        }
        return ItemHistory(identity: identity, since: since, removedIn: removedIn, changes: changes)
    }
}
