"""In-process: the browser client's table of transitions is complete and says what it means."""

from __future__ import annotations

from typing import Any

import pytest
from fake_ffi import install, reset


@pytest.fixture
def state() -> Any:
    reset()
    return install().state


def test_every_state_and_event_pair_is_decided(state: Any) -> None:
    """Each (state, event) pair has a target state or is explicitly ignored: none is left out."""
    S, E = state.ConnectionState, state.Event
    assert set(state.TRANSITIONS) == set(S.ALL)
    for current in S.ALL:
        assert set(state.TRANSITIONS[current]) == set(E.ALL), current
        for event in E.ALL:
            target = state.next_state(current, event)
            assert target is state.IGNORED or target in S.ALL, (current, event, target)


def test_every_state_is_reachable_from_initialized(state: Any) -> None:
    """Following the table from ``initialized`` reaches every state."""
    S = state.ConnectionState
    seen, frontier = {S.INITIALIZED}, [S.INITIALIZED]
    while frontier:
        current = frontier.pop()
        for target in state.TRANSITIONS[current].values():
            if target is not state.IGNORED and target not in seen:
                seen.add(target)
                frontier.append(target)
    assert seen == set(S.ALL)


def test_terminal_states_are_left_only_by_the_pages_calls(state: Any) -> None:
    """Nothing the SDK or the server does moves a session out of ``failed`` or ``closed``."""
    S, E = state.ConnectionState, state.Event
    for terminal in (S.FAILED, S.CLOSED):
        moves = {e for e, t in state.TRANSITIONS[terminal].items() if t is not state.IGNORED}
        assert moves <= {E.CONNECT, E.DISCONNECT}, (terminal, moves)


def test_closing_waits_only_for_its_close(state: Any) -> None:
    """While closing, every event but the close being done is ignored."""
    S, E = state.ConnectionState, state.Event
    moves = {e: t for e, t in state.TRANSITIONS[S.CLOSING].items() if t is not state.IGNORED}
    assert moves == {E.CLOSED: S.CLOSED}


def test_token_expiry_is_a_disconnection_and_revocation_a_failure(state: Any) -> None:
    """An expired token (with a provider) leaves a live session ``disconnected`` on its way
    back; any other end of a session by the server is ``failed``."""
    S, E = state.ConnectionState, state.Event
    for live in (S.CONNECTED, S.DISCONNECTED):
        assert state.next_state(live, E.TOKEN_EXPIRED) == S.DISCONNECTED
        assert state.next_state(live, E.ENDED) == S.FAILED
    assert state.next_state(S.DISCONNECTED, E.RENEWING) == S.CONNECTING
    assert state.next_state(S.CONNECTING, E.AUTHENTICATED) == S.CONNECTED


def test_an_unknown_pair_is_a_key_error(state: Any) -> None:
    """A state or event the table does not know is a bug, reported rather than ignored."""
    with pytest.raises(KeyError):
        state.next_state("sleeping", state.Event.CONNECT)
    with pytest.raises(KeyError):
        state.next_state(state.ConnectionState.CONNECTED, "teleported")
