"""Fixtures of the Salesforce backend's tests: the WSDL schema, the emulator, clients."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import xmlschema
from leadconvert_salesforce import SalesforceBackend, SalesforceClient, SalesforceEmulator

WSDL = Path("/work/shared/reference/salesforce-partner-v58.wsdl")
FAST = {"retry_base_delay": "0.01", "max_retries": "3", "timeout": "10"}


def _relaxed_schemas(wsdl: str, into: Path) -> Path:
    """The WSDL's schemas as files, with unset nillable LeadConvert children made optional."""
    root = re.search(r"<definitions\b[^>]*>", wsdl)
    assert root is not None
    namespaces = " ".join(
        decl for decl in re.findall(r'xmlns:\w+="[^"]*"', root.group()) if "wsdl/" not in decl
    )
    files: dict[str, str] = {}
    blocks = re.findall(r"<schema\b.*?</schema>", wsdl, flags=re.S)
    assert len(blocks) == 3
    for block in blocks:
        target = re.search(r'targetNamespace="([^"]+)"', block)
        assert target is not None
        files[target.group(1)] = f"{target.group(1).split(':')[1].split('.')[0]}.xsd"
    main = None
    for block in blocks:
        target = re.search(r'targetNamespace="([^"]+)"', block).group(1)  # type: ignore[union-attr]
        text = block.replace("<schema ", f"<schema {namespaces} ", 1)
        text = re.sub(
            r'<import namespace="([^"]+)"/>',
            lambda m: f'<import namespace="{m.group(1)}" schemaLocation="{files[m.group(1)]}"/>',
            text,
        )
        if target == "urn:partner.soap.sforce.com":
            # The one relaxation: real clients leave unset nillable LeadConvert children out.
            start = text.index('<complexType name="LeadConvert">')
            end = text.index("</complexType>", start)
            relaxed = re.sub(
                r'(<element name="\w+"[^>]*nillable="true")', r'\1 minOccurs="0"', text[start:end]
            )
            text = text[:start] + relaxed + text[end:]
            main = into / files[target]
        (into / files[target]).write_text('<?xml version="1.0" encoding="UTF-8"?>\n' + text)
    assert main is not None
    return main


@pytest.fixture(scope="session")
def partner_schema(tmp_path_factory: pytest.TempPathFactory) -> xmlschema.XMLSchema:
    """The Partner v58 schema (loaded once; imports resolved locally, never over the network)."""
    main = _relaxed_schemas(WSDL.read_text(encoding="utf-8"), tmp_path_factory.mktemp("wsdl"))
    return xmlschema.XMLSchema10(str(main), allow="local")


@pytest.fixture(scope="session")
def backend() -> SalesforceBackend:
    """The Salesforce backend."""
    return SalesforceBackend()


@pytest.fixture(scope="session")
def emulator(backend: SalesforceBackend) -> Iterator[SalesforceEmulator]:
    """One emulated org for the session (tests take fresh bulk leads, so they do not collide)."""
    em = backend.emulator()
    assert isinstance(em, SalesforceEmulator)
    em.start()
    yield em
    em.close()


@pytest.fixture
def clean_emulator(emulator: SalesforceEmulator) -> Iterator[SalesforceEmulator]:
    """The shared emulator with no fault pending before or after the test."""
    emulator.clear_faults()
    yield emulator
    emulator.clear_faults()


@pytest.fixture(scope="session")
def fresh_leads() -> Callable[[int], list[str]]:
    """Hands out seeded bulk leads (``00QB...``) that no other test has used."""
    counter = itertools.count()

    def take(n: int) -> list[str]:
        return [f"00QB{next(counter):011d}" for _ in range(n)]

    return take


@pytest.fixture
def client(
    backend: SalesforceBackend, clean_emulator: SalesforceEmulator
) -> Iterator[SalesforceClient]:
    """A client logged in to the emulator with username, password and token."""
    made = backend.connect(clean_emulator.credentials(), FAST)
    assert isinstance(made, SalesforceClient)
    with made:
        yield made
