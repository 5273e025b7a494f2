"""A legacy cipher that only a third-party plugin registers, against real tincd 1.0.36.

``tests/sample_plugins/tinca-sample-xts`` adds ``aes-256-xts``, which Debian's
tincd (OpenSSL 3) accepts and tinca's built-in legacy plugin does not
register. Installed into a fresh environment and selected only by ``Cipher =
aes-256-xts`` in the tinca node's configuration (tinc.conf, or the TOML form)
and in tincd's tinc.conf, it carries pings both ways, and full bursts of
them by UDP: tincd decrypts what tinca encrypts with the plugin's cipher and
the other way round, each side having announced NID 914 in ANS_KEY. Without
the package, tinca refuses the same configuration.
"""

from __future__ import annotations

import re
import sys

import pytest

from tests import netns
from tests.mesh import big_pings_over_udp, build, logs, make_nodes, ping_both_ways
from tests.sample_packages import FORMS, SampleInstaller, sample_installer, use_form

__all__ = ["netns_lab", "sample_installer"]

netns_lab = netns.netns_lab

SAMPLE = "tinca-sample-xts"
CIPHER = "Cipher = aes-256-xts"
BURST = 20
SIZE = 1200


@pytest.mark.parametrize("form", FORMS)
def test_plugin_cipher_meshes_with_tincd(
    netns_lab: netns.Lab, sample_installer: SampleInstaller, form: str
) -> None:
    alpha, beta = make_nodes(netns_lab, [("alpha", "tinca"), ("beta", "tincd")])
    alpha.connect_to = ["beta"]
    nodes = [alpha, beta]
    build(netns_lab, nodes, common=CIPHER)
    env = sample_installer.env(SAMPLE)
    alpha.env = {"PYTHONPATH": env["PYTHONPATH"]}
    use_form(alpha.confdir, form, env)
    beta.start(netns_lab)
    alpha.start(netns_lab)
    assert alpha.process is not None and beta.process is not None
    alpha.process.wait_for("Connection with beta", timeout=20)

    ping_both_ways(alpha, beta, nodes, count=3, wait=20)
    for source, target in ((alpha, beta), (beta, alpha)):
        received, sent, output = big_pings_over_udp(source, target, SIZE, 40, BURST)
        assert received >= BURST and sent >= BURST, (
            f"{source.name} -> {target.name}: {BURST} pings of {SIZE} bytes, "
            f"UDP in {received}, out {sent}\n{output}\n{logs(nodes)}"
        )
    # Each side announced the plugin's cipher (NID 914, sha256 672, MACLength
    # 4, no compression) in ANS_KEY, and neither failed to decrypt.
    tincd_log = beta.process.output()
    for direction in ("Sending ANS_KEY to alpha", "Got ANS_KEY from alpha"):
        assert re.search(rf"{direction} .* [0-9A-F]{{160}} 914 672 4 0$", tincd_log, re.M), (
            f"{direction} with aes-256-xts's NID 914 and 80 bytes of key material not in "
            f"tincd's log\n{logs(nodes)}"
        )
    # Both announced the plugin's cipher: tincd logs no decryption errors.
    assert "Error decrypting" not in beta.process.output(), logs(nodes)
    assert "Error decrypting" not in alpha.process.output(), logs(nodes)


def test_without_the_plugin_tinca_refuses_the_cipher(netns_lab: netns.Lab) -> None:
    (alpha,) = make_nodes(netns_lab, [("alpha", "tinca")])
    build(netns_lab, [alpha], common=CIPHER)
    argv = [sys.executable, "-m", "tinca.core.cli.tincad", "-c", str(alpha.confdir), "-D"]
    result = alpha.ns.run(argv, check=False, timeout=30)
    assert result.returncode != 0
    assert "aes-256-xts" in result.stderr and "Traceback" not in result.stderr, result.stderr
