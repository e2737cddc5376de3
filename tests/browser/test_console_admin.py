"""An admin's pages in the console: tenants (search, pages, create, delete with a
confirmation), connected X accounts and the audit log with its filters; and what the
console shows of the API's errors: the envelope's message, next to the field it names."""

import uuid

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


@pytest.fixture
def admin(console, local_stack):
    console.log_in(local_stack.admin_username, local_stack.admin_password)
    return console


def test_the_admin_creates_finds_and_deletes_a_tenant(admin):
    page = admin.page
    expect(page.get_by_role("heading", name="Tenants", exact=True)).to_be_visible()
    username = f"shop-{uuid.uuid4().hex[:8]}@example.com"

    create = page.get_by_role("form", name="Create a tenant")
    create.get_by_label("Username (e-mail)").fill(username)
    create.get_by_label("Password").fill(uuid.uuid4().hex)
    create.get_by_label("Company").fill("Shop & Co")
    create.get_by_label("First name").fill("Ada")
    create.get_by_role("button", name="Create tenant").click()
    expect(page.get_by_role("status").first).to_have_text(f"Created {username}.")
    rows = page.locator("tbody tr")
    expect(rows).to_have_count(1)  # the list searches for the new tenant
    expect(rows.first).to_contain_text("Shop & Co")

    search = page.get_by_label("Search by username, name or company")
    search.fill("no-such-tenant-anywhere")
    search.press("Enter")  # the keyboard submits
    expect(page.get_by_text("No user matches")).to_be_visible()
    search.fill(username)
    search.press("Enter")
    expect(rows).to_have_count(1)
    admin.screenshot("admin-tenants")
    admin.assert_accessible()

    # Deleting asks first; cancelling keeps the tenant.
    page.get_by_role("button", name=f"Delete {username}").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("This cannot be undone.")
    admin.screenshot("admin-delete-confirmation")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(rows).to_have_count(1)
    page.get_by_role("button", name=f"Delete {username}").click()
    dialog.get_by_role("button", name="Delete tenant").click()
    expect(page.get_by_role("status").first).to_have_text(f"Deleted {username}.")
    expect(page.get_by_text("No user matches")).to_be_visible()


def test_the_tenants_list_has_pages(admin, api):
    marker = uuid.uuid4().hex[:8]
    for number in range(21):  # one more than a page of the console's 20
        created = api.post(
            "/auth/users/",
            token=api.admin_token,
            json={
                "username": f"paged-{marker}-{number:02}@example.com",
                "password": uuid.uuid4().hex,
                "company_name": f"Paged {marker}",
            },
        )
        assert created.status == 201, created.body
    page = admin.page
    search = page.get_by_label("Search by username, name or company")
    search.fill(marker)
    search.press("Enter")
    expect(page.get_by_text("Page 1 of 2 (21 in all)")).to_be_visible()
    expect(page.locator("tbody tr")).to_have_count(20)
    page.get_by_role("button", name="Next page").click()
    expect(page.get_by_text("Page 2 of 2 (21 in all)")).to_be_visible()
    expect(page.locator("tbody tr")).to_have_count(1)
    expect(page.get_by_role("button", name="Next page")).to_be_disabled()


def test_an_api_error_is_shown_next_to_the_field_it_names(admin):
    page = admin.page
    create = page.get_by_role("form", name="Create a tenant")
    create.get_by_label("Username (e-mail)").fill(f"weak-{uuid.uuid4().hex[:8]}@example.com")
    create.get_by_label("Password").fill("password")  # on the common-password list
    create.get_by_label("Company").fill("Weak Ltd")
    create.get_by_role("button", name="Create tenant").click()

    password = create.get_by_label("Password")
    expect(password).to_have_attribute("aria-invalid", "true")
    error = create.locator(f"#{password.get_attribute('id')}-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("common")
    expect(create.get_by_label("Username (e-mail)")).not_to_have_attribute("aria-invalid", "true")
    alert = create.get_by_role("alert")
    expect(alert).to_contain_text("password")
    expect(alert).to_contain_text("Request id:")
    assert "{" not in alert.inner_text()  # never raw JSON
    admin.screenshot("api-error-on-its-field")
    admin.assert_accessible()


def test_the_admin_sees_the_connected_x_accounts(admin, desk):
    page = admin.page
    page.get_by_role("link", name="X accounts").click()
    # Oldest first, and the tests beside this one connect accounts of their own.
    row = page.locator("tbody tr", has_text=f"@{desk.account}")
    pages = page.get_by_role("navigation", name="Pages")
    next_page = pages.get_by_role("button", name="Next page")
    expect(pages).to_be_visible()
    while row.count() == 0 and next_page.is_enabled():
        shown = pages.inner_text()
        next_page.click()
        expect(pages).not_to_have_text(shown)
    expect(row).to_contain_text("connected")
    expect(row).to_contain_text("OAuth 2.0")
    expect(row).to_contain_text("Acme")
    admin.screenshot("admin-x-accounts")
    admin.assert_accessible()


def test_the_admin_filters_the_audit_log(admin, new_tenant):
    page = admin.page
    page.get_by_role("link", name="Audit log").click()
    filters = page.get_by_role("form", name="Audit log filters")
    filters.get_by_label("User id (actor or tenant)").fill(new_tenant.id)
    filters.get_by_label("Action").select_option("user.created")
    filters.get_by_role("button", name="Filter").click()
    rows = page.locator("tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("user.created")
    expect(rows.first).to_contain_text(new_tenant.id)

    # A range that ends before it starts: the API's message, on its field.
    filters.get_by_label("From (UTC date)").fill("2026-12-31")
    filters.get_by_label("To (UTC date)").fill("2026-01-01")
    filters.get_by_role("button", name="Filter").click()
    start = filters.get_by_label("From (UTC date)")
    expect(start).to_have_attribute("aria-invalid", "true")
    expect(filters.locator(f"#{start.get_attribute('id')}-error")).to_have_text(
        "Must not be after end_date."
    )
    admin.screenshot("admin-audit-log")
    admin.assert_accessible()


def test_a_tenant_cannot_open_the_admin_pages(console, new_tenant):
    console.log_in(new_tenant.username, new_tenant.password)
    page = console.page
    expect(page.get_by_role("link", name="Tenants")).to_have_count(0)
    page.goto("/console/#/admin/tenants")
    expect(page.get_by_role("heading", name="Set up Acme Console")).to_be_visible()
