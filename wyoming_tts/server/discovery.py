"""Zeroconf (mDNS) registration, announcing the host's real address."""

from __future__ import annotations

import ipaddress
import logging
import socket
import uuid

from zeroconf import InterfaceChoice
from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf

_LOGGER = logging.getLogger(__name__)

SERVICE_TYPE = "_wyoming._tcp.local."
_UNSPECIFIED = {"", "0.0.0.0", "::", "*"}


class DiscoveryError(Exception):
    """No usable address to announce; the message says what to do."""


def default_name() -> str:
    """A stable instance name: this host's MAC address as hex."""
    return f"wyoming-tts-{uuid.getnode():012x}"


def announce_address(bind_host: str, override: str | None = None) -> str:
    """The IPv4 address to announce: OVERRIDE, the bound address, or the detected one."""
    if override:
        return _ipv4(override, "--zeroconf-host")
    if bind_host not in _UNSPECIFIED:
        try:
            return _ipv4(bind_host, "the --uri host")
        except DiscoveryError:
            pass  # a host name or IPv6: detect instead
    return detect_ipv4()


def detect_ipv4() -> str:
    """The IPv4 address of the interface that carries the default route (no packet is sent)."""
    for target in ("224.0.0.251", "10.254.254.254"):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.connect((target, 5353))  # a UDP connect picks a route without sending
            address = sock.getsockname()[0]
        except OSError:
            continue
        finally:
            sock.close()
        if address not in _UNSPECIFIED:
            return str(address)
    raise DiscoveryError(
        "Could not find this host's IPv4 address for zeroconf; set --zeroconf-host ADDR."
    )


def _ipv4(value: str, what: str) -> str:
    try:
        address = ipaddress.IPv4Address(value)
    except ValueError as err:
        raise DiscoveryError(f"{what} {value!r} is not an IPv4 address.") from err
    if address.is_unspecified:
        raise DiscoveryError(f"{what} must not be 0.0.0.0: give this host's real address.")
    return str(address)


class Discovery:
    """Register `_wyoming._tcp.local.` on start, unregister on stop."""

    def __init__(self, name: str, address: str, port: int) -> None:
        self.name = name
        self.address = address
        self.port = port
        self._zeroconf: AsyncZeroconf | None = None
        self._info = AsyncServiceInfo(
            SERVICE_TYPE,
            f"{name}.{SERVICE_TYPE}",
            addresses=[socket.inet_aton(address)],
            port=port,
            properties={"program": "wyoming-tts"},
        )

    async def start(self) -> None:
        # Answer on the announced address's interface only; loopback stays loopback.
        interfaces = [self.address] if self.address != "0.0.0.0" else InterfaceChoice.All
        self._zeroconf = AsyncZeroconf(interfaces=interfaces)
        await self._zeroconf.async_register_service(self._info)
        _LOGGER.info("Zeroconf: announced %s at %s:%d", self._info.name, self.address, self.port)

    async def stop(self) -> None:
        if self._zeroconf is None:
            return
        await self._zeroconf.async_unregister_service(self._info)
        await self._zeroconf.async_close()
        self._zeroconf = None
        _LOGGER.info("Zeroconf: unregistered %s", self._info.name)
