"""Broker addresses, as the Node client reads them (src/transport/address.ts):
tcp://host:port, tls://host:port, unix:///path.sock; a token may ride in the
URL's password (tcp://:s3cret@host:6741)."""
from urllib.parse import unquote, urlsplit

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 6741


class Address:
    def __init__(self, kind, host=None, port=None, path=None, token=None):
        self.kind = kind
        self.host = host
        self.port = port
        self.path = path
        self.token = token

    def __str__(self):
        # The token never appears here: this is what error messages name.
        if self.kind == "unix":
            return f"unix://{self.path}"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.kind}://{host}:{self.port}"


def parse_address(url):
    if not isinstance(url, str):
        raise TypeError(f"channel layer url must be a string like tcp://127.0.0.1:6741, got {type(url).__name__}")
    parts = urlsplit(url)
    scheme = parts.scheme
    token = unquote(parts.password) if parts.password else None
    if scheme == "unix":
        host = parts.netloc.rsplit("@", 1)[-1]
        path = unquote(f"/{host}{parts.path}" if host else parts.path)
        if path in ("", "/"):
            raise ValueError(f"broker address {url!r} has no socket path: use unix:///path/to/broker.sock")
        return Address("unix", path=path, token=token)
    if scheme not in ("tcp", "tls"):
        raise ValueError(f"broker address {url!r}: unknown scheme {scheme + ':' if scheme else '(none)'}; use tcp://, tls:// or unix://")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"broker address {url!r} has an invalid port") from None
    return Address(scheme, host=parts.hostname or DEFAULT_HOST, port=port or DEFAULT_PORT, token=token)
