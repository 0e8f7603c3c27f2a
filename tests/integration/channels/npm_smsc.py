"""An SMPP server that checks bind credentials: the npm `smpp` package's server, run by node.

Install once (into the ignored `.arrears/node`): `npm install --prefix .arrears/node smpp@0.5.1`,
or point $ARREARS_NODE_MODULES at a node_modules folder holding `smpp`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

from tests.integration.channels.smsc import free_port

SERVER_JS = r"""
const smpp = require('smpp');
const [port, systemId, password] = process.argv.slice(1);
let n = 0;
const server = smpp.createServer(function (session) {
  session.on('bind_transceiver', function (pdu) {
    session.pause();
    if (pdu.system_id !== systemId || pdu.password !== password) {
      session.send(pdu.response({ command_status: smpp.ESME_RINVPASWD }));
      session.close();
      return;
    }
    session.send(pdu.response());
    session.resume();
  });
  session.on('submit_sm', function (pdu) {
    n += 1;
    session.send(pdu.response({ message_id: 'n' + n }));
  });
  session.on('enquire_link', function (pdu) { session.send(pdu.response()); });
  session.on('unbind', function (pdu) { session.send(pdu.response()); session.close(); });
  session.on('error', function () {});
});
server.listen(Number(port), '127.0.0.1', function () { console.log('ready'); });
"""


def node_modules() -> Path | None:
    for candidate in (
        os.environ.get("ARREARS_NODE_MODULES"),
        str(Path(".arrears/node/node_modules")),
        str(Path(__file__).resolve().parents[3] / ".arrears/node/node_modules"),
    ):
        if candidate and (Path(candidate) / "smpp").is_dir():
            return Path(candidate).resolve()
    return None


def node_smpp_available() -> bool:
    return shutil.which("node") is not None and node_modules() is not None


class NodeSmsc:
    def __init__(self, *, system_id: str, password: str) -> None:
        self.port = free_port()
        self.system_id, self.password = system_id, password
        self.proc: subprocess.Popen[str] | None = None

    def __enter__(self) -> NodeSmsc:
        modules = node_modules()
        assert modules is not None
        self.proc = subprocess.Popen(
            ["node", "-e", SERVER_JS, str(self.port), self.system_id, self.password],
            env={**os.environ, "NODE_PATH": str(modules)},
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.stdout.readline().strip() == "ready":
                return self
        raise RuntimeError("node SMPP server did not start")

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(5)
