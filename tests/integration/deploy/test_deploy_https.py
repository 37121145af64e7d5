"""HTTPS with app_domain: the proxy serves 443 with a certificate for the domain and redirects 80 to
it. Tested with the proxy's internal CA (app_proxy_tls: internal; ACME needs the public internet)
and a test name resolved to 127.0.0.1, through ports the host container publishes on 127.0.0.1."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from deploy_helpers import Host, Site
from requests.adapters import HTTPAdapter
from support import testimages as images

pytestmark = [pytest.mark.docker, pytest.mark.slow]

DOMAIN = "test.webapp.example"
HTTPS_PORT, HTTP_PORT = 18443, 18081
HOST = Host(
    "webapp-deploy-https", ssh_port=2231, app_port=18091,
    publish=f"127.0.0.1:{HTTPS_PORT}:443 127.0.0.1:{HTTP_PORT}:80",
)  # fmt: skip
ROOT_CA = "/app/proxy/data/caddy/pki/authorities/local/root.crt"


class ResolveTo127(HTTPAdapter):
    """Connects to 127.0.0.1 whatever the URL's host, keeping the name for SNI and the certificate."""

    def __init__(self, ca: Path) -> None:
        self.ca = ca
        super().__init__()

    def init_poolmanager(self, *args: object, **kwargs: object) -> None:
        context = ssl.create_default_context(cafile=str(self.ca))
        kwargs["ssl_context"] = context
        kwargs["server_hostname"] = DOMAIN
        super().init_poolmanager(*args, **kwargs)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    HOST.up()
    try:
        the_site = Site.write(
            tmp_path_factory.mktemp("https"),
            HOST,
            app_image=images.V1,
            app_domain=DOMAIN,
            app_proxy_tls="internal",
        )
        the_site.play("configure.yml", "deploy.yml")
        yield the_site
    finally:
        HOST.down()


@pytest.fixture(scope="module")
def ca(site: Site, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ca") / "root.crt"
    HOST.wait_for(ROOT_CA)
    path.write_text(HOST.run("cat", ROOT_CA).stdout)
    return path


def https(ca: Path, path: str) -> requests.Response:
    session = requests.Session()
    session.mount("https://", ResolveTo127(ca))
    # The URL names the domain (Host header, SNI); the adapter's pool dials 127.0.0.1.
    return session.get(f"https://127.0.0.1:{HTTPS_PORT}{path}", headers={"Host": DOMAIN}, timeout=30)


def test_https_serves_the_app_with_a_certificate_for_the_domain(ca: Path):
    response = https(ca, "/health")
    assert response.status_code == 200 and response.json()["version"] == "v1"


def test_plain_http_redirects_to_https(site: Site):
    response = requests.get(
        f"http://127.0.0.1:{HTTP_PORT}/health", headers={"Host": DOMAIN}, allow_redirects=False, timeout=30
    )
    assert response.status_code in (301, 308), response.status_code
    assert response.headers["Location"] == f"https://{DOMAIN}/health"


def test_the_certificate_is_trusted_only_through_that_ca(site: Site):
    import certifi

    with pytest.raises(requests.exceptions.SSLError, match="certificate verify failed"):
        https(Path(certifi.where()), "/health")


def test_the_proxy_publishes_only_80_and_443(site: Site):
    bindings = HOST.inspect("webapp-proxy")["HostConfig"]["PortBindings"]
    assert sorted(bindings) == ["443/tcp", "80/tcp"]
    assert not HOST.inspect()["HostConfig"]["PortBindings"]
