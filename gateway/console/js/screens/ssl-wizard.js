// Request an SSL certificate (SCM: Certificates > SSL Certificates > Add): the organization and department it is
// for, the profile (its trust class and whether it needs approval) and term, the names, and the CSR — pasted,
// uploaded, or generated in the browser (only the CSR is sent). A refusal (names not delegated, a key the profile
// does not take) is shown under the form with the API's details; what was typed stays. The answer (issue 13): 201
// issued, or 202 still being issued — either opens the certificate's page, which turns issued by itself — or 422
// when the CA refused it after it was recorded (lint findings, the CA's own rules): the findings are shown under
// the form with a link to the request, now failed.
import { navigate, screen } from "../router.js";
import { clear, field, form, h, link, notice, section } from "../ui.js";
import { Directory, csrInput, linesOf, profileLabel, refusalPanel, submitIssuance } from "./ssl-parts.js";

screen({
  path: "/ssl/new",
  title: "Request an SSL certificate",
  async render(ctx) {
    const directory = await Directory.load();
    const places = await directory.requestable(ctx.me);
    const profiles = directory.sslProfiles();
    const head = h("div", { class: "page-head" }, h("h1", {}, "Request an SSL certificate"),
                   link("#/ssl", "Back to the inventory", { class: "button" }));
    if (!places.length || !profiles.length) {
      clear(ctx.main, head, notice(!places.length
        ? "You hold no role that may request SSL certificates for an organization or department."
        : "There is no SSL profile yet: an MRAO adds one under Profiles.", "info"));
      return;
    }
    const firstPlace = places.find((p) => p.organization.organization_id === ctx.query.organization_id) || places[0];
    const firstProfile = profiles.find((p) => p.profile_id === ctx.query.profile_id) || profiles[0];

    const csr = csrInput({ names: () => namesOf(element), testid: "ssl-csr" });
    const refusal = refusalPanel();
    const profileInfo = h("div", { class: "ssl-profile-info", "aria-live": "polite", "data-testid": "ssl-profile-info" });

    const element = form({
      testid: "ssl-request-form",
      submitLabel: "Request certificate",
      fields: [
        h("fieldset", {}, h("legend", {}, "For"),
          h("div", { class: "row" },
            field({ name: "organization_id", label: "Organization", type: "select", required: true,
                    testid: "ssl-organization", value: firstPlace.organization.organization_id,
                    options: places.map((p) => [p.organization.organization_id, p.organization.name]) }),
            field({ name: "department_id", label: "Department", type: "select", testid: "ssl-department",
                    options: departmentOptions(firstPlace) }))),
        h("fieldset", {}, h("legend", {}, "Profile and term"),
          h("div", { class: "row" },
            field({ name: "profile_id", label: "Profile", type: "select", required: true, testid: "ssl-profile",
                    value: firstProfile.profile_id, options: profiles.map((p) => [p.profile_id, profileLabel(p)]) }),
            field({ name: "term_days", label: "Term", type: "select", required: true, testid: "ssl-term",
                    options: termOptions(firstProfile) })),
          profileInfo),
        h("fieldset", {}, h("legend", {}, "Names"),
          field({ name: "common_name", label: "Common name", testid: "ssl-common-name", maxlength: 300,
                  help: "e.g. www.example.com; it must be one of the names below or is added to them",
                  autocomplete: "off" }),
          field({ name: "sans", label: "Subject alternative names (one per line)", type: "textarea", rows: 4,
                  testid: "ssl-sans", mono: true,
                  help: "DNS names (wildcards allowed) and IP addresses; every name must be delegated to the " +
                        "organization or department for SSL (and validated by DCV for a public profile)" })),
        csr.el,
        h("fieldset", {}, h("legend", {}, "More"),
          field({ name: "comments", label: "Comments", type: "textarea", rows: 2, testid: "ssl-comments" }),
          field({ name: "external_requester", label: "External requester email", type: "email",
                  testid: "ssl-external-requester",
                  help: "also receives the collection mail with the download links" }),
          field({ name: "auto_renew", label: "Renew automatically before it expires", type: "checkbox",
                  testid: "ssl-auto-renew" })),
      ],
      secondary: [link("#/ssl", "Cancel", { class: "button" })],
      onSubmit: async (values) => {
        refusal.clear();
        const body = {
          organization_id: values.organization_id,
          department_id: values.department_id || null,
          profile_id: values.profile_id,
          term_days: Number(values.term_days),
          csr: await csr.csr(),
          common_name: values.common_name ? values.common_name.trim() : null,
          sans: linesOf(values.sans),
          comments: values.comments || null,
          external_requester: values.external_requester || null,
          auto_renew: Boolean(values.auto_renew),
        };
        let created;
        try {
          created = await submitIssuance("/api/v1/ssl", body);
        } catch (error) {
          throw refusal.take(error);    // findings (and the failed request's link) under the form; the form stays
        }
        csr.forget();
        navigate(`/ssl/${created.id}`);
      },
    });

    const orgSelect = element.querySelector("select[name=organization_id]");
    const deptSelect = element.querySelector("select[name=department_id]");
    const profileSelect = element.querySelector("select[name=profile_id]");
    const termSelect = element.querySelector("select[name=term_days]");
    orgSelect.addEventListener("change", () => {
      const place = places.find((p) => p.organization.organization_id === orgSelect.value);
      clear(deptSelect, departmentOptions(place).map(([v, t]) => h("option", { value: v }, t)));
    });
    const showProfile = () => {
      const profile = directory.profiles.get(profileSelect.value);
      if (!profile) return;
      const keep = termSelect.value;
      clear(termSelect, termOptions(profile).map(([v, t]) => h("option", { value: v, selected: String(v) === keep }, t)));
      clear(profileInfo, h("p", { class: "help" },
        `Trust class: ${profile.trust_class}${profile.trust_class === "public"
          ? " (CA/Browser Forum rules: fresh DCV, no internal names or IP addresses)"
          : " (the company's own PKI: internal names and IP addresses allowed)"}. `,
        profile.requires_approval ? "Needs approval by another administrator (unless you hold SSL auto approve). "
          : "Issued at once, without approval. ",
        `Key types: ${profile.key_types.join(", ")}.`));
    };
    profileSelect.addEventListener("change", showProfile);
    showProfile();

    clear(ctx.main, head, section(null, element, refusal.el));
  },
});

function departmentOptions(place) {
  if (!place) return [["", "None"]];
  const options = place.departments.map((d) => [d.department_id, d.name]);
  return place.whole ? [["", "None (the whole organization)"], ...options] : options;
}

function termOptions(profile) {
  return [...profile.terms].sort((a, b) => a - b).map((days) => [days, `${days} days`]);
}

function namesOf(formElement) {
  const cn = formElement.querySelector("[name=common_name]").value.trim();
  const sans = linesOf(formElement.querySelector("[name=sans]").value);
  return { commonName: cn, sans: sans.length ? sans : (cn ? [cn] : []) };
}
