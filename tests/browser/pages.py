"""Helpers the journeys share: sign in, screenshots, and the accessibility basics checked on
every page a journey visits (labels, one h1, a visible keyboard focus)."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page, expect

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
PASSWORD = "correct horse battery staple"  # tests.factories.UserFactory's

UNLABELLED_FIELDS_JS = """() => {
  const shown = (el) => el.getClientRects().length > 0 && getComputedStyle(el).visibility !== "hidden";
  const problems = [];
  for (const el of document.querySelectorAll("input, select, textarea")) {
    if (el.type === "hidden" || !shown(el)) continue;
    const labelled = (el.labels && el.labels.length > 0 && el.labels[0].textContent.trim())
      || (el.getAttribute("aria-label") || "").trim()
      || (el.getAttribute("aria-labelledby") || "").trim();
    if (!labelled) problems.push(el.outerHTML.slice(0, 160));
  }
  return problems;
}"""

FOCUSED_JS = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  const style = getComputedStyle(el);
  const outline = style.outlineStyle !== "none" && parseFloat(style.outlineWidth) > 0;
  return {
    tag: el.tagName.toLowerCase(),
    text: (el.innerText || el.value || "").trim().slice(0, 60),
    visible: outline || (style.boxShadow && style.boxShadow !== "none"),
  };
}"""


def check_accessibility(page: Page) -> None:
    """Every visible field has a label, the page has exactly one h1, and Tab lands on links and
    buttons with a visible focus ring. Call right after a page loads (focus starts at the top)."""
    unlabelled = page.evaluate(UNLABELLED_FIELDS_JS)
    assert not unlabelled, f"{page.url}: fields without a label: {unlabelled}"
    expect(page.locator("h1")).to_have_count(1)
    seen = []
    for _ in range(4):
        page.keyboard.press("Tab")
        focused = page.evaluate(FOCUSED_JS)
        if focused is None:
            continue
        seen.append(focused)
        assert focused["visible"], f"{page.url}: focus on {focused} is not visible"
    assert any(item["tag"] in {"a", "button"} for item in seen), f"{page.url}: Tab reached {seen}"


def visit(page: Page, path: str) -> None:
    page.goto(path)
    check_accessibility(page)


def screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def sign_in(page: Page, user, *, password: str = PASSWORD) -> None:
    visit(page, "/accounts/login/")
    page.get_by_label("Username").fill(user.get_username())
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
