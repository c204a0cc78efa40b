"""The forms destination: one Upsales form submission per converted view.

The form comes from FORM_POLICY: one form (`single`), one per Wistia project (`project`) or one
per video (`video`). A form is created on first need, remembered in DuckDB (`upsales_forms`) and
looked up by name in Upsales before any create, so it is never created twice, not even when the
DuckDB file is lost. Upsales links each submission to a contact and account from the email.

A view queued while the forms ledger was empty (a first run, a lost DuckDB file) is looked up
before it is submitted, in EVERY form this pipeline may have created, not only the current
policy's: a lost file plus a policy change, or a renamed project or video, must not submit a
view again to the form it now maps to. The forms are recognised by their names (`Wistia video
views`, `Wistia: ...`) and by the description the pipeline gives them.

Each submission adds its form's lead score (`score`) to the contact (docs/api/upsales.md
"Forms"; 0: no score and no notification). The pipeline's own forms carry FORM_SCORE: set at
create, and set again with one `PUT /v2/forms/{id}` before the next submission to a form whose
score (remembered in `upsales_forms`) differs, so an unchanged setting costs no call. A form found
by name that the pipeline did not create (no pipeline description: a customer's own form) is
never changed: its scoring is the customer's; the run's metadata says it was left alone.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import duckdb

from wistia_pipeline import rules
from wistia_pipeline.clients import readback
from wistia_pipeline.clients.errors import ApiError, AuthError
from wistia_pipeline.clients.upsales import FORM_SUBMIT_PATH, UpsalesClient
from wistia_pipeline.settings import Settings
from wistia_pipeline.sinks.contract import CONVERTED, Destination, SinkContext

NAME = "forms"
SINGLE_FORM_NAME = "Wistia video views"
PER_PROJECT_OR_VIDEO_PREFIX = "Wistia: "
FORM_DESCRIPTION = "Created by wistia_pipeline: Wistia Turnstile conversions."
NO_PROJECT = "(no project)"
DRY_RUN_FORM_UUID = "(the form is created on the first real post)"

# Extra fields carry the view; `Extra.wistia_event_key` is how a submission is found again.
EVENT_KEY_FIELD = "Extra.wistia_event_key"
FORM_FIELDS = [
    {"name": "Contact.email", "title": "Email", "required": True, "datatype": "text"},
    {"name": "Contact.firstname", "title": "First name", "required": False, "datatype": "text"},
    {"name": "Contact.lastname", "title": "Last name", "required": False, "datatype": "text"},
    {"name": "Extra.wistia_video", "title": "Video", "required": False, "datatype": "text"},
    {"name": "Extra.wistia_percent_watched", "title": "Percent watched", "required": False, "datatype": "text"},
    {"name": "Extra.wistia_heatmap", "title": "Heatmap", "required": False, "datatype": "text"},
    {"name": EVENT_KEY_FIELD, "title": "Wistia event key", "required": False, "datatype": "text"},
]


# What a submission id looks like (docs/api/upsales.md: a 200 answers with the new submission's id
# as text). Anything else in a 200 (a proxy's HTML page, a JSON error envelope) was not written by
# Upsales' form endpoint: the submission may or may not have been stored, so the view stays in
# flight and is read back before any new submit.
SUBMISSION_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def form_name(view: Mapping[str, Any], policy: str) -> str:
    """The name of the form a view goes to under a policy (the name is the form's identity)."""
    if policy == "project":
        return f"{PER_PROJECT_OR_VIDEO_PREFIX}{view.get('project_name') or NO_PROJECT}"
    if policy == "video":
        return (f"{PER_PROJECT_OR_VIDEO_PREFIX}{view.get('media_name') or 'Untitled video'} "
                f"({view.get('media_id') or 'unknown'})")
    return SINGLE_FORM_NAME


def is_pipeline_form(form: Mapping[str, Any]) -> bool:
    """Whether a form may have been created by this pipeline, under any policy or earlier names."""
    name = form.get("name")
    if not isinstance(name, str):
        return False
    return (name == SINGLE_FORM_NAME or name.startswith(PER_PROJECT_OR_VIDEO_PREFIX)
            or form.get("description") == FORM_DESCRIPTION)


def submitted_event_key(submit: Mapping[str, Any], field_names: Mapping[int, str] | None = None) -> str | None:
    """The Wistia event_key a submission carries: its field read by `name`, else by `fieldId`
    mapped to a name with the form's fields (`field_names`, readback.form_field_names)."""
    return readback.field_value(submit, EVENT_KEY_FIELD, field_names)


def form_definition(name: str, score: int) -> dict[str, Any]:
    """What `POST /v2/forms` gets for a new form; `score` is what each submission adds to the contact."""
    return {
        "name": name,
        "title": name,
        "internalName": name,
        "description": FORM_DESCRIPTION,
        "landingPage": "",
        "buttonText": "Send",
        "thankYouTitle": "Thank you",
        "thankYouText": "",
        "fields": FORM_FIELDS,
        "score": score,
    }


def submission_fields(view: Mapping[str, Any], settings: Settings, customer_id: int, form_uuid: str) -> dict[str, str]:
    """The form-encoded body of `POST <root>/external/formSubmit` for one view."""
    heatmap = rules.heatmap_url(view["event_key"], view["heatmap_url"], settings.wistia_api_url,
                                settings.wistia_public_token)
    return {
        "formCid": str(customer_id),
        "formId": form_uuid,
        "Contact.email": view["email"],
        "Contact.firstname": view.get("first_name") or "",
        "Contact.lastname": view.get("last_name") or "",
        "Extra.wistia_video": view.get("media_name") or "",
        "Extra.wistia_percent_watched": str(rules.whole_percent(view["percent_viewed"])),
        "Extra.wistia_heatmap": heatmap or "",
        EVENT_KEY_FIELD: view["event_key"],
        "isFrame": "false",
        "validation": "",
        "isAjax": "true",
    }


@dataclass
class KnownForm:
    """A form of the registry (`upsales_forms`): `ours` when the pipeline created it, so its score
    is the pipeline's to set; `score` as last set (or, not ours, seen); None: unknown."""

    form_id: int
    uuid: str
    ours: bool
    score: int | None


class FormSink:
    """Submits forms, creating each policy's forms once, and finds submissions by event_key."""

    destination = NAME

    def __init__(self, client: UpsalesClient, settings: Settings, con: duckdb.DuckDBPyConnection,
                 dry_run: bool = False):
        self.client = client
        self.dry_run = dry_run  # find forms, never create or change one (a dry run writes nothing)
        self.settings = settings
        self.con = con
        self._customer_id: int | None = settings.upsales_customer_id
        self._forms: dict[str, KnownForm] = {
            name: KnownForm(int(form_id), form_uuid, bool(created), score)
            for name, form_id, form_uuid, created, score in con.execute(
                "SELECT name, form_id, form_uuid, created, score FROM upsales_forms").fetchall()
        }
        self._submitted_keys: dict[int, dict[str, str]] = {}
        self._everywhere: dict[str, tuple[str, int, str]] | None = None  # event_key -> (id, form id, name)
        self.found_in: dict[str, tuple[int, str]] = {}  # event_key -> (form id, name) it was found in
        self.forms_created: list[str] = []
        self.scores_set: list[str] = []  # "<form> (<old> -> <new>)", by PUT this run
        self.scores_left_alone: dict[str, str] = {}  # form -> why its score differs and is not changed
        self._score_failures: dict[str, ApiError] = {}  # a PUT refused this run is not sent again per view
        self._field_names: dict[int, dict[int, str]] = {}  # form id -> field id -> field name

    @property
    def customer_id(self) -> int:
        if self._customer_id is None:
            self._customer_id = self.client.customer_id()
        return self._customer_id

    def form_for(self, view: Mapping[str, Any]) -> tuple[int, str, str]:
        """(form id, uuid, name) for the view's form: remembered, else found by name, else created;
        its score made FORM_SCORE first when the form is the pipeline's."""
        name = form_name(view, self.settings.form_policy)
        if name not in self._forms:
            found = self.client.find_forms_by_name(name)
            if not found and self.dry_run:
                return 0, DRY_RUN_FORM_UUID, name
            if found:
                form = found[0]
                # A form with the pipeline's description was created by it (the DuckDB file was
                # lost since); any other form of that name is a customer's own.
                ours = form.get("description") == FORM_DESCRIPTION
                score = readback.form_score(form)
            else:
                form = self.client.create_form(form_definition(name, self.settings.form_score))
                self.forms_created.append(name)
                ours = True
                read = readback.form_score(form)  # what Upsales kept; what was sent when it does not say
                score = self.settings.form_score if read is None else read
            self.con.execute(
                "INSERT OR REPLACE INTO upsales_forms (name, policy, form_id, form_uuid, created, recorded_at, score) "
                "VALUES (?, ?, ?, ?, ?, now() AT TIME ZONE 'UTC', ?)",
                [name, self.settings.form_policy, int(form["id"]), form["uuid"], ours, score])
            self._forms[name] = KnownForm(int(form["id"]), form["uuid"], ours, score)
        known = self._forms[name]
        self._settle_score(name, known)
        return known.form_id, known.uuid, name

    def _settle_score(self, name: str, form: KnownForm) -> None:
        """Give one of the pipeline's forms FORM_SCORE (one idempotent PUT, remembered, so it is sent
        once per change) before anything more is submitted to it; a customer's form is left as is.
        A refused PUT keeps the form's views queued (ApiError) rather than score them wrongly."""
        wanted = self.settings.form_score
        if form.score == wanted:
            return
        if not form.ours:
            seen = "unknown" if form.score is None else str(form.score)
            self.scores_left_alone[name] = (f"score {seen}, not {wanted}: a form of that name the pipeline did "
                                            f"not create; left as it is")
            return
        if self.dry_run:
            return
        if name in self._score_failures:
            raise self._score_failures[name]
        try:
            self.client.update_form(form.form_id, {"score": wanted})
        except AuthError:
            raise
        except ApiError as error:
            self._score_failures[name] = error
            raise
        self.con.execute("UPDATE upsales_forms SET score = ? WHERE name = ?", [wanted, name])
        self.scores_set.append(f"{name} ({'unknown' if form.score is None else form.score} -> {wanted})")
        form.score = wanted

    def payload(self, view: Mapping[str, Any]) -> dict[str, Any]:
        if view["event_key"] in self.found_in:  # already submitted: recorded, never sent
            form_id, name = self.found_in[view["event_key"]]
            return {"form_id": form_id, "form_name": name, "fields": {"Contact.email": view["email"]}}
        form_id, form_uuid, name = self.form_for(view)
        return {"form_id": form_id, "form_name": name,
                "fields": submission_fields(view, self.settings, self.customer_id, form_uuid)}

    def ledger_facts(self, view: Mapping[str, Any], payload: Mapping[str, Any]) -> dict[str, Any]:
        # A view found already submitted is recorded with the form it was found in (an older
        # policy's, or a renamed project's), not the one it would go to now.
        form_id, name = self.found_in.get(view["event_key"], (payload["form_id"], payload["form_name"]))
        return {
            "external_id": view["event_key"],
            "client_id": None,
            "contact_id": None,
            "score": None,
            "value": f"{payload['fields']['Contact.email']} -> {name}",
            "form_id": form_id,
            "form_name": name,
        }

    def post(self, payload: Mapping[str, Any]) -> str:
        """Submit; returns the submission id, or raises ApiError when the answer is not one."""
        answer = self.client.submit_form(payload["fields"])
        if not SUBMISSION_ID.match(answer):
            what = "an HTML page" if answer.lstrip().startswith("<") else "not a submission id"
            raise self.client.session.error(
                f"Upsales POST {FORM_SUBMIT_PATH} answered 200 with {what}; the submission may have been "
                f"stored and is looked up before any new submit",
                status=None, method="POST", path=FORM_SUBMIT_PATH)
        return answer

    def find_existing(self, views: list[Mapping[str, Any]]) -> dict[str, str]:
        """Views of a batch already submitted, looked up for the views queued to be looked up first
        (queued with an empty forms ledger, or re-offered): event_key -> submission id."""
        wanted = [view["event_key"] for view in views if view.get("lookup_first")]
        if not wanted:
            return {}
        everywhere = self.submissions_everywhere()
        found = {}
        for key in wanted:
            if key in everywhere:
                submission_id, form_id, name = everywhere[key]
                found[key] = submission_id
                self.found_in[key] = (form_id, name)
        return found

    def refresh(self) -> None:
        """Forget what was read back, so a read-back after posting sees the new submissions."""
        self._submitted_keys.clear()
        self._everywhere = None

    def submissions_everywhere(self) -> dict[str, tuple[str, int, str]]:
        """event_key -> (submission id, form id, form name) over every form this pipeline may have
        created: read once per run, one paged read per form."""
        if self._everywhere is None:
            forms = {int(form_id): name for name, form_id in
                     self.con.execute("SELECT name, form_id FROM upsales_forms").fetchall()}
            for page in self.client.iter_forms():
                for form in page:
                    if isinstance(form, Mapping) and is_pipeline_form(form) and form.get("id") is not None:
                        forms[int(form["id"])] = str(form["name"])
                        if field_names := readback.form_field_names(form):
                            self._field_names[int(form["id"])] = field_names
            self._everywhere = {}
            for form_id, name in sorted(forms.items()):
                for page in self.client.iter_form_submits(form_id):
                    for submit in page:
                        key = self._event_key(submit, form_id)
                        if key is not None:
                            self._everywhere.setdefault(key, (str(submit.get("id")), form_id, name))
        return self._everywhere

    def find_posted_many(self, rows: list[tuple[str, str, int | None]]) -> dict[str, str]:
        """Of (event_key, external_id, form_id) rows left in flight, those already submitted:
        event_key -> submission id (one read-back per form)."""
        found = {}
        for event_key, external_id, form_id in rows:
            submission_id = self.find_posted(external_id, event_key, form_id)
            if submission_id is not None:
                found[event_key] = submission_id
        return found

    def find_posted(self, external_id: str, event_key: str, form_id: int | None) -> str | None:
        """The id of a submission of this view already in Upsales (read back once per form)."""
        if form_id is None:
            return None
        if form_id not in self._submitted_keys:
            keys: dict[str, str] = {}
            for page in self.client.iter_form_submits(form_id):
                for submit in page:
                    key = self._event_key(submit, form_id)
                    if key is not None:
                        keys.setdefault(key, str(submit.get("id")))
            self._submitted_keys[form_id] = keys
        return self._submitted_keys[form_id].get(event_key)

    def _event_key(self, submit: Any, form_id: int) -> str | None:
        """A submission's event_key; when its field values carry only `fieldId`s, the form's fields
        (from the forms list, else `GET /v2/forms/{id}`, once per form) name them."""
        if not isinstance(submit, Mapping):
            return None
        if readback.needs_field_names(submit) and form_id not in self._field_names:
            self._field_names[form_id] = readback.form_field_names(self.client.get_form(form_id))
        return submitted_event_key(submit, self._field_names.get(form_id))


def _make_sink(ctx: SinkContext) -> FormSink:
    return FormSink(ctx.client, ctx.settings, ctx.con, dry_run=ctx.dry_run)


DESTINATION = Destination(
    name=NAME,
    description="form submissions of converted views (Upsales links them to the contact)",
    takes=CONVERTED,
    enabled=lambda settings: settings.sync_forms,
    make_sink=_make_sink,
    setting="SYNC_FORMS",
    verb="submit",
    past="submitted",
    metadata=lambda sink: {
        "forms/created": ", ".join(sink.forms_created) or "none",
        "forms/score": sink.settings.form_score,
        "forms/score_set": ", ".join(sink.scores_set) or "none",
        # A warning: submissions to these forms do not score FORM_SCORE.
        "forms/score_left_alone": "; ".join(f"{name}: {why}" for name, why in sink.scores_left_alone.items()) or "none",
    },
)
