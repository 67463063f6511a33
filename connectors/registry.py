"""The connectors by inbox kind, filled in ``ConnectorsConfig.ready()``."""

from __future__ import annotations

from connectors.base import Connector

_connectors: dict[str, Connector] = {}


def register(connector: Connector) -> None:
    _connectors[connector.kind] = connector


def connector_for(kind: str) -> Connector | None:
    return _connectors.get(kind)


def kinds() -> list[str]:
    return sorted(_connectors)
