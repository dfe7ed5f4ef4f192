"""The console is usable without a mouse, readable, and fits a phone (issue 12): keyboard-only login and navigation
with a visible focus, text contrast at WCAG AA (4.5:1, 3:1 for large text) on every screen of the navigation, and
no screen wider than a 390-pixel phone."""
import pytest

from tests.browser.conftest import go, login, screenshot

# Every visible text's colour against the background it is drawn on (the first opaque one up the tree): the WCAG
# 2.x contrast ratio, and the texts under the AA threshold.
CONTRAST = """() => {
  const channel = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
  const rgba = (text) => (text.match(/[\\d.]+/g) || []).map(Number);
  const luminance = ([r, g, b]) => 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
  const background = (element) => {
    for (let e = element; e; e = e.parentElement) {
      const c = rgba(getComputedStyle(e).backgroundColor);
      if (c.length >= 3 && (c.length === 3 || c[3] > 0.5)) return c;
    }
    return [255, 255, 255];
  };
  const failures = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode;
    const element = node.parentElement;
    if (!node.textContent.trim() || !element || element.closest("svg")) continue;
    const box = element.getBoundingClientRect();
    const style = getComputedStyle(element);
    if (!box.width || !box.height || style.visibility === "hidden" || Number(style.opacity) < 0.1) continue;
    if (element.closest("button:disabled, [aria-hidden=true]")) continue;
    const fore = luminance(rgba(style.color));
    const back = luminance(background(element));
    const ratio = (Math.max(fore, back) + 0.05) / (Math.min(fore, back) + 0.05);
    const size = parseFloat(style.fontSize);
    const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
    if (ratio < (large ? 3 : 4.5)) failures.push(`${node.textContent.trim().slice(0, 40)}: ${ratio.toFixed(2)}`);
  }
  return failures;
}"""


@pytest.fixture
def mrao(console, open_page):
    page = open_page(console)
    login(page, "admin", console.server.admin_password)
    return page


def screens(page) -> list[str]:
    return [a.get_attribute("href") for a in page.locator("nav.sidebar a").all()]


def test_log_in_and_move_between_screens_with_the_keyboard_only(console, open_page):
    page = open_page(console)
    page.goto("/")
    page.get_by_label("Username").wait_for()
    assert page.evaluate("document.activeElement.name") == "username"       # the login form takes the focus
    page.keyboard.type("admin")
    page.keyboard.press("Tab")
    page.keyboard.type(console.server.admin_password)
    page.keyboard.press("Enter")
    page.get_by_test_id("who").wait_for()
    # Tab through the page to the navigation item: the focus starts in the dashboard after login, whose every
    # chart segment and table cell is a link (more as the shared server's inventory grows), then wraps to the nav
    for _ in range(250):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent.trim()") == "Organizations":
            break
    else:
        pytest.fail("Tab never reached the Organizations item of the navigation")
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("none", ""), "the focused element shows no focus outline"
    page.keyboard.press("Enter")
    page.get_by_role("heading", name="Organizations").wait_for()
    screenshot(page, "usability-keyboard-focus")


def test_every_screen_meets_wcag_aa_contrast(mrao):
    # the check itself: a grey-on-white probe (2.3:1) must be caught
    mrao.evaluate("""() => { const p = document.createElement("p"); p.id = "probe"; p.textContent = "faint probe";
                             p.style.color = "#aaaaaa"; document.querySelector("main").append(p); }""")
    assert any(f.startswith("faint probe") for f in mrao.evaluate(CONTRAST))
    mrao.evaluate("document.getElementById('probe').remove()")
    failures = {}
    for fragment in screens(mrao):
        go(mrao, fragment)
        mrao.wait_for_timeout(400)
        found = mrao.evaluate(CONTRAST)
        if found:
            failures[fragment] = found
    assert not failures, failures


def test_no_screen_is_wider_than_a_phone(console, open_page):
    page = open_page(console, viewport={"width": 390, "height": 844})
    login(page, "admin", console.server.admin_password)
    page.get_by_role("button", name="Menu").click()                 # the navigation folds into a menu
    fragments = screens(page)
    assert len(fragments) >= 8
    too_wide = {}
    for fragment in fragments:
        go(page, fragment)
        page.wait_for_timeout(400)
        width = page.evaluate("document.documentElement.scrollWidth")
        if width > 391:
            too_wide[fragment] = width
        screenshot(page, f"phone-{fragment.strip('#/').replace('/', '-') or 'dashboard'}")
    assert not too_wide, too_wide
