"""The ``chatcamp`` pytest plugin: a real chatcamp-web server and users for end-to-end tests.

Installing chatcamp-web registers it (the ``pytest11`` entry point ``chatcamp``).  Options for
the server come from the ini option ``chatcamp_server_args`` (shell words, such as
``chatcamp_server_args = --demo``), then from each ``--chatcamp-server-arg=OPTION`` on the
command line.
"""

from __future__ import annotations

from typing import Iterator

import pytest

from chatcamp_pytest.server import (
    START_TIMEOUT,
    ChatCampServer,
    ChatCampUser,
    ServerStartError,
    new_user_id,
)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("chatcamp", "chatcamp-web test server")
    group.addoption("--chatcamp-server-arg", action="append", default=[], metavar="OPTION",
                    dest="chatcamp_server_args",
                    help="an option for the chatcamp_server fixture's server, after those of "
                         "the ini option chatcamp_server_args; repeatable, written with = "
                         "(--chatcamp-server-arg=--demo)")
    parser.addini("chatcamp_server_args", type="args", default=[],
                  help="options for the chatcamp_server fixture's server, as shell words "
                       "(for example: --demo --log-level WARNING)")
    parser.addini("chatcamp_server_timeout", default=str(START_TIMEOUT),
                  help=f"seconds the chatcamp_server fixture waits for the server to be ready "
                       f"(default: {START_TIMEOUT:g})")


def _timeout(config: pytest.Config) -> float:
    text = config.getini("chatcamp_server_timeout")
    try:
        timeout = float(text)
    except ValueError:
        timeout = 0.0
    if timeout <= 0:
        raise pytest.UsageError(f"chatcamp_server_timeout must be a number of seconds above 0, "
                                f"not {text!r}")
    return timeout


@pytest.fixture(scope="session")
def chatcamp_server(pytestconfig: pytest.Config,
                    tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChatCampServer]:
    """One server for the whole test session, on a free loopback port with a database of its
    own, and an app made for the session: ``url``, ``app_id``, ``api_key``, ``client``.
    Tests share it, so each uses users of its own (``chatcamp_user``)."""
    options = [*pytestconfig.getini("chatcamp_server_args"),
               *pytestconfig.getoption("chatcamp_server_args")]
    server = ChatCampServer(tmp_path_factory.mktemp("chatcamp"), options, _timeout(pytestconfig))
    try:
        server.start()
    except ServerStartError as error:
        pytest.fail(str(error), pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def chatcamp_user() -> ChatCampUser:
    """A user ID no other test uses and no token: the user is created by its first login by
    ID, as on an app that does not require tokens."""
    return ChatCampUser(new_user_id())


@pytest.fixture
def chatcamp_user_with_token(chatcamp_server: ChatCampServer) -> ChatCampUser:
    """A user created through the server API with an access token, as an integrator's backend
    creates one before handing the token to the browser."""
    return chatcamp_server.create_user()
