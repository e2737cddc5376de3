"""update_set/twittnow_update_set.xml: the shape an instance imports (an <unload> with a
sys_remote_update_set and a sys_update_xml per record, each payload a <record_update>), the
records the rule needs, and a file that is always a fresh build of its sources."""

import re
import xml.etree.ElementTree as ET

import pytest

from update_set import build as build_update_set

XML = build_update_set.OUTPUT
SYS_ID = re.compile(r"^[0-9a-f]{32}$")


@pytest.fixture(scope="module")
def unload() -> ET.Element:
    return ET.parse(XML).getroot()


@pytest.fixture(scope="module")
def updates(unload) -> dict[str, ET.Element]:
    """Each sys_update_xml by its name (<table>_<sys_id>)."""
    return {update.findtext("name"): update for update in unload.findall("sys_update_xml")}


def payload_record(update: ET.Element) -> ET.Element:
    """The record inside an update's payload, checked to be a proper record_update."""
    record_update = ET.fromstring(update.findtext("payload").encode("utf-8"))
    assert record_update.tag == "record_update"
    (record,) = list(record_update)
    assert record.tag == record_update.get("table")
    assert record.get("action") == "INSERT_OR_UPDATE"
    return record


def records_of(updates, table: str) -> list[tuple[ET.Element, ET.Element]]:
    """(update, record) for each update of a record of `table`."""
    pairs = [(update, payload_record(update)) for update in updates.values()]
    return [(update, record) for update, record in pairs if record.tag == table]


def test_the_checked_in_xml_is_a_fresh_build():
    assert XML.read_text(encoding="utf-8") == build_update_set.build(), (
        "update_set/twittnow_update_set.xml is stale: run python -m update_set.build"
    )


def test_the_build_is_deterministic():
    assert build_update_set.build() == build_update_set.build()


def test_an_unload_with_one_retrieved_update_set(unload):
    assert unload.tag == "unload"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", unload.get("unload_date"))
    (update_set,) = unload.findall("sys_remote_update_set")
    assert update_set.get("action") == "INSERT_OR_UPDATE"
    assert update_set.findtext("name") == build_update_set.UPDATE_SET_NAME
    assert update_set.findtext("state") == "loaded"
    assert update_set.findtext("sys_class_name") == "sys_remote_update_set"
    assert SYS_ID.match(update_set.findtext("sys_id"))
    assert [child.tag for child in unload] == ["sys_remote_update_set", *["sys_update_xml"] * 4]


def test_every_update_belongs_to_the_set_and_names_its_record(unload, updates):
    set_id = unload.find("sys_remote_update_set").findtext("sys_id")
    assert len(updates) == 4
    for name, update in updates.items():
        record = payload_record(update)
        assert update.get("action") == "INSERT_OR_UPDATE"
        assert update.findtext("action") == "INSERT_OR_UPDATE"
        assert update.findtext("category") == "customer"
        assert update.findtext("remote_update_set") == set_id
        assert name == f"{record.tag}_{record.findtext('sys_id')}"
        assert record.findtext("sys_update_name") == name
        assert update.findtext("target_name") == record.findtext("name")
        assert record.find("sys_scope").text == "global"


def test_sys_ids_are_distinct_and_well_formed(unload, updates):
    ids = [unload.find("sys_remote_update_set").findtext("sys_id")]
    ids += [update.findtext("sys_id") for update in updates.values()]
    ids += [payload_record(update).findtext("sys_id") for update in updates.values()]
    assert all(SYS_ID.match(sys_id) for sys_id in ids)
    assert len(set(ids)) == len(ids)


def test_the_async_business_rule_on_cases(updates):
    ((update, rule),) = records_of(updates, "sys_script")
    assert update.findtext("type") == "Business Rule"
    assert update.findtext("table") == "sn_customerservice_case"
    assert rule.findtext("name") == build_update_set.RULE_NAME
    assert rule.findtext("collection") == "sn_customerservice_case"
    assert rule.findtext("when") == "async"
    assert rule.findtext("active") == "true"
    assert rule.findtext("advanced") == "true"
    assert rule.findtext("action_update") == "true"
    assert rule.findtext("action_insert") == "false"
    assert rule.findtext("action_delete") == "false"
    assert rule.findtext("action_query") == "false"
    assert rule.findtext("order").isdigit()
    assert rule.findtext("sys_class_name") == "sys_script"


def test_the_rule_carries_the_sources_verbatim(updates):
    ((update, rule),) = records_of(updates, "sys_script")
    sources = XML.parent
    assert rule.findtext("script") == (sources / "business_rule.js").read_text("utf-8")
    condition = (sources / "business_rule_condition.js").read_text("utf-8")
    assert rule.findtext("condition") == " ".join(condition.split())
    # The script sits in CDATA inside the payload, as the instance writes it.
    assert "<script><![CDATA[" in update.findtext("payload")


def test_the_three_system_properties(updates):
    properties = records_of(updates, "sys_properties")
    assert {prop.findtext("name"): prop.findtext("type") for _, prop in properties} == {
        "twittnow.events_endpoint": "string",
        "twittnow.api_key": "password2",
        "twittnow.integration_user": "string",
    }
    for update, prop in properties:
        assert update.findtext("type") == "System Property"
        assert prop.findtext("sys_class_name") == "sys_properties"
        assert prop.findtext("description")
        # Values are the tenant's own: the set ships them empty.
        assert not prop.findtext("value")


def test_the_script_reads_exactly_the_properties_the_set_defines(updates):
    script = (XML.parent / "business_rule.js").read_text("utf-8")
    condition = (XML.parent / "business_rule_condition.js").read_text("utf-8")
    read = set(re.findall(r"gs\.getProperty\('([^']+)'", script + condition))
    defined = {prop.findtext("name") for _, prop in records_of(updates, "sys_properties")}
    assert read == defined
