"""What the guard has learned about unlock state."""

from __future__ import annotations

from lensmor_async.guard._state import UnlockState


def test_nothing_is_known_at_first() -> None:
    state = UnlockState()
    assert state.event_unlocked("1") is False
    assert state.contact_state("email", "7") is None
    assert state.known_chargeable("email", ["7"]) is None


def test_marked_events_are_unlocked() -> None:
    state = UnlockState()
    state.mark_event_unlocked("1", "evt_1")
    assert state.event_unlocked("1")
    assert state.event_unlocked("evt_1")
    assert not state.event_unlocked("2")


def test_empty_event_ids_are_not_recorded() -> None:
    state = UnlockState()
    state.mark_event_unlocked("", "3")
    assert not state.event_unlocked("")
    assert state.event_unlocked("3")


def test_contact_states_are_recorded_per_kind() -> None:
    state = UnlockState()
    state.mark_contacts("email", ["7", "8"], "unlocked")
    assert state.contact_state("email", "7") == "unlocked"
    assert state.contact_state("phone", "7") is None


def test_a_later_mark_replaces_the_state() -> None:
    state = UnlockState()
    state.mark_contacts("email", ["7"], "unlocking")
    state.mark_contacts("email", ["7"], "unlocked")
    assert state.contact_state("email", "7") == "unlocked"


def test_known_chargeable_is_unknown_while_any_id_is_unknown() -> None:
    state = UnlockState()
    state.mark_contacts("email", ["1", "2"], "unlocked")
    assert state.known_chargeable("email", ["1", "2", "3"]) is None


def test_known_chargeable_leaves_out_unlocked_and_unlocking_contacts() -> None:
    state = UnlockState()
    state.mark_contacts("email", ["1"], "unlocked")
    state.mark_contacts("email", ["2"], "unlocking")
    state.mark_contacts("email", ["3"], "failed")
    state.mark_contacts("email", ["4"], "locked")
    assert state.known_chargeable("email", ["4", "1", "3", "2"]) == ("4", "3")


def test_known_chargeable_of_all_settled_contacts_is_empty() -> None:
    state = UnlockState()
    state.mark_contacts("phone", ["1", "2"], "unlocked")
    assert state.known_chargeable("phone", ["1", "2"]) == ()


def test_email_unlocks_do_not_make_phone_unlocks_free() -> None:
    state = UnlockState()
    state.mark_contacts("email", ["1"], "unlocked")
    assert state.known_chargeable("phone", ["1"]) is None
