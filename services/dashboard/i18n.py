"""The pages' labels in English and Swedish. A page asks `labels(lang)` for the table, and
`t.term(vocabulary, value)` for what a value of an event or of the rules is called (`terms.py`).
A key missing from a language falls back to English (a test holds both tables to the same keys)."""

from __future__ import annotations

from services.dashboard.terms import term

__all__ = ["LANGUAGES", "Labels", "choose_language", "labels"]

LANGUAGES = ("en", "sv")

_EN: dict[str, str] = {
    "title": "GVI operations", "board": "Groups", "cases": "Cases", "alerts": "Alerts",
    "stats": "Statistics", "call_ins": "Call-ins", "audit": "Audit", "logout": "Log out",
    "login": "Log in", "username": "User name", "password": "Password", "live": "Live",
    "stale": "Not connected: what you see may be out of date. Reconnecting…",
    "stale_since": "Stale since",
    "stale_since_detail": "the dashboard has not heard from the event log since then: what you see may be "
                          "out of date",
    "group": "Group", "name": "Name", "area": "Area", "status": "Status", "warned_since": "Warned since",
    "open_cases": "Open cases", "stalled_cases": "Stalled", "last_incident": "Last incident",
    "incident": "Incident", "kind": "Kind", "date": "Date", "warning": "Warning broken",
    "days_since": "Days since incident", "sanctions": "Sanctions so far", "agency": "Agency",
    "days_after": "Days after the incident", "none": "none", "stalled": "Stalled",
    "all": "All", "open": "Open", "filter": "Show", "alert": "Alert", "raised": "Raised",
    "withdrawn": "Withdrawn", "include_withdrawn": "Include withdrawn",
    "year": "Year", "month": "Month", "shootings": "Confirmed shootings",
    "shootings_without_injury": "Shootings, nobody hurt", "killed_in_shootings": "Killed in shootings",
    "injured_in_shootings": "Injured in shootings", "explosions": "Explosions",
    "follow_through": "Follow-through", "swiftness_median": "Swiftness, median days",
    "swiftness_p90": "Swiftness, 90th percentile days", "certainty": "Certainty (share sanctioned)",
    "from": "From", "to": "Until (excluded)", "any_area": "All areas", "per_year": "Per year",
    "per_month": "Per month", "apply": "Apply", "brief": "Call-in brief", "print": "Print",
    "download_pdf": "Download PDF", "warnings_given": "Warnings given", "violations": "Violations",
    "since_previous": "since the previous call-in", "since_first_warning": "since the first warning",
    "since_beginning": "all recorded", "other_enforcement": "Other enforcement (not linked to a violation)",
    "support": "Support", "offered": "Offered", "accepted": "Accepted", "service": "Service",
    "scheduled_for": "Scheduled for", "held": "Held", "location": "Location", "invited": "Invited groups",
    "channel": "Channel", "people": "Person references (analysts only; this view is logged)",
    "person_ref": "Person reference", "erased": "erased", "user": "User", "role": "Role", "resource": "Read",
    "time": "Time", "via": "Via", "cases_total": "Cases", "sanctioned": "Sanctioned",
    "chart_title": "Confirmed shootings and explosions per period", "baseline": "Baseline sanctions",
    "updates": "This page has changed since it was opened.", "reload": "Reload",
    "skip": "Skip to content", "language": "Svenska", "no_rows": "Nothing to show.",
    "newest_shown": "The newest %(shown)s of %(total)s are shown (GET /api/alerts lists them all).",
    "wrong_login": "Wrong user name or password.", "not_found": "Not found",
    "login_wait": "Too many failed logins from your address: try again in {seconds} s.",
    "login_busy": "Too many logins are being checked right now: try again in a moment.",
    "access_log": "Access log", "audit_unavailable": "The audit trail cannot be shown",
    "last_verification": "Last verification", "verification_ok": "Verified: the log is intact",
    "verification_failed": "Verification FAILED", "records": "committed records",
    "checkpoints_matching": "matching checkpoints", "unverified_records": "newer than the last checkpoint",
    "signed_by": "signed by key", "no_verification": "No signed verification result has been published yet.",
    "checkpoints_per_partition": "Checkpoints per partition", "topic": "Topic", "partition": "Partition",
    "checkpoints": "Checkpoints", "last_offset": "Last offset", "records_covered": "Records covered",
    "last_checkpoint": "Last checkpoint", "chain_head": "Chain head", "key": "Key",
    "checkpoint_problems": "Checkpoints that do not verify under the auditors' keys:",
    "checkpoint_records_read": "records read from the checkpoint topic", "yes": "yes", "no": "no",
    "public_title": "Shootings and explosions: public statistics",
    "public_intro": "Counts per year or month and area, from the incidents reported to the partnership "
                    "as they stand today. Figures are revised as incidents are reviewed; nothing here "
                    "names a person, a group or an incident.",
    "public_periods": "Years and months are in Swedish time (Europe/Stockholm).",
    "public_shootings_definition": "Shootings: confirmed shootings only; killed and injured are people "
                                   "killed or injured in them.",
    "public_explosions_definition": "Explosions: every reported explosion, confirmed or not, as in the "
                                    "partnership's published figures; the next column shows how many of "
                                    "them a review has confirmed.",
    "public_suppression": "Small numbers are not shown: a count from 1 to %(below)s is shown as "
                          "“<%(threshold)s”.",
    "public_withheld": "“..”: a total that is not shown because, with the figures above it, it would "
                       "reveal a count that is not shown.",
    "explosions_reported": "Explosions (all reported)", "explosions_confirmed": "of which confirmed",
    "download_csv": "Download as CSV", "total": "Total", "staff_login": "Staff log in",
    "group_audit": "Group audit", "memberships": "Memberships by group",
    "memberships_people": "Memberships by group (person references and evidence: analysts only; this view "
                          "is logged)",
    "current_members": "Assessed members now", "expiring_count": "Expiring within 30 days",
    "expiring": "Assessments expiring within 30 days",
    "expiring_note": "Swedish calendar days: until the end of %(day)s (Europe/Stockholm). A person "
                     "re-assessed with a later expiry is not listed.",
    "source_grade": "Source grade", "evidence": "Evidence", "valid_from": "Valid from",
    "valid_until": "Valid until", "relations": "Relations between groups", "relation": "Relation",
    "other_group": "Other group", "since": "Since",
    "relations_note": "The relation that holds for each pair of groups: the latest one recorded, unless "
                      "the police have since recorded its end.",
    "unmatched": "Sanctions that matched no group", "reason": "Reason", "sanction": "Sanction",
    "unmatched_note": "Sanctions against a person who had no membership assessment valid at the time; "
                      "a later assessment can still link them.",
    "all_groups": "All groups",
    "enter": "Enter data", "all_forms": "All forms",
    "entry_intro": "You enter data for {agency}. What you record here is posted to the partnership's event "
                   "log as the agency's own system would post it, under the agency's name; the access log "
                   "records that you entered it.",
    "form_call-in": "Call-in held",
    "form_warning": "Warning delivered (home visit, letter, custom notification)",
    "form_support": "Support offered",
    "field_time": "When (Swedish time)", "field_call_in_id": "Call-in", "field_attended": "Attended",
    "field_no_shows": "Summoned but did not come", "field_group_id": "Group", "field_channel": "Channel",
    "field_person_ref": "Person reference",
    "field_promised_levers": "Sanctions the group was told would follow",
    "field_service": "Service",
    "hint_call-in_attended": "One person per line: the group id, then the person reference "
                             "(e.g. grp-norra-42 mun:s-5521).",
    "hint_call-in_no_shows": "One person per line, as above.",
    "hint_warning_person_ref": "When the message reached one person: the agency's reference, never a name.",
    "hint_warning_call_in_id": "Only for a warning given at a call-in.",
    "hint_support_person_ref": "When the offer concerns one person: the agency's reference, never a name.",
    "hint_support_service": "For example housing, work, hotline, relocation.",
    "optional": "(optional)", "choose": "Choose…", "submit_entry": "Record",
    "entry_refused": "Not recorded:",
    "entry_time_required": "Enter the date and time it happened.",
    "entry_time_invalid": "Enter the date and time as 2026-03-01T14:30 (Swedish time).",
    "entry_damaged": "The form was damaged and got a new event id; check the fields and send it again.",
    "entry_not_logged": "Your entry could not be written to the access log, so nothing was sent. Send the "
                        "form again in a moment.",
    "entry_intake_down": "The intake cannot take the entry just now. It may or may not have been recorded: "
                         "send the form again in a moment. It keeps its event id, so it is never recorded "
                         "twice.",
    "entry_key_refused": "The intake does not accept this dashboard's key for your agency, so nothing was "
                         "recorded. Tell the partnership's administrator.",
    "entry_recorded": "Recorded", "entry_accepted": "The entry is in the partnership's event log.",
    "entry_repeat": "This entry had been recorded before: nothing new was written; this is its receipt.",
    "event_id": "Event id", "offset": "Offset", "recorded_at": "Recorded at (UTC)",
    "enter_another": "Enter another", "retract_this_entry": "Retract this entry",
    "form_call-in-scheduled": "Call-in scheduled",
    "form_support-accepted": "Support accepted",
    "form_exit-milestone": "Exit programme milestone",
    "form_relation-ended": "Relation between two groups ended",
    "form_retraction": "Retract an entry",
    "field_scheduled_for": "To take place (Swedish time)", "field_location": "Location",
    "field_invited_group_ids": "Invited groups", "field_other_group_id": "Other group",
    "field_retracted_event_id": "Event id of the entry to retract", "field_reason": "Reason",
    "field_call-in-scheduled_time": "When it was planned (Swedish time)",
    "field_relation-ended_time": "When the relation ended (Swedish time)",
    "field_retraction_time": "When it is retracted (Swedish time)",
    "field_exit-milestone_service": "Help it took", "field_milestone": "Milestone",
    "hint_call-in-scheduled_call_in_id": "The partnership's id for the call-in, e.g. ci-2026-03.",
    "hint_call-in-scheduled_invited_group_ids": "One group id per line.",
    "hint_support-accepted_person_ref": "When one person accepted: the agency's reference, never a name.",
    "hint_support-accepted_service": "For example housing, work, hotline, relocation.",
    "hint_exit-milestone_person_ref": "The person leaving the group: the agency's reference, never a name.",
    "hint_exit-milestone_service": "If the step took help: for example relocation, housing, work.",
    "hint_relation-ended_group_id": "One of the two groups.",
    "hint_relation-ended_other_group_id": "The other group. The relation recorded between the two (a "
                                          "conflict, an alliance) no longer holds until a new one is "
                                          "recorded.",
    "hint_retraction_retracted_event_id": "The event id on the entry's receipt: an entry your agency "
                                          "made. From then on it counts as never having happened (the log "
                                          "keeps both).",
    "hint_retraction_reason": "Why, e.g. entered in error: wrong group. Enter the right one again in its "
                              "own form.",
    "call_in": "Call-in", "call_in_prep": "Preparation and attendance", "not_held_yet": "Not held yet",
    "as_of": "As of", "members": "Members then", "members_on_probation": "of whom on probation",
    "attended": "Attended", "no_shows": "No-shows", "no_shows_on_probation": "No-shows on probation",
    "raised_to_probation": "Raised to the Probation Service",
    "alert_pending": "alert not yet received from the processor", "not_invited": "not invited",
    "invited_people": "Invited and summoned people (analysts only; this view is logged)",
    "on_probation": "On probation", "on_probation_since": "since the probation action of",
    "not_known_to_probation": "not known to probation", "attendance": "Attendance",
    "member": "Member then", "came": "came", "stayed_away": "did not come", "not_listed": "not listed",
    "probation_note": "On probation: a probation action naming the person in the three years before the "
                      "call-in (rule 9, docs/rules.md). Nobody is shown as \u201cnot on probation\u201d: "
                      "the events can only say who is known to probation.",
    "people_hidden": "Who is invited, on probation or stayed away is shown to analysts only.",
    "form_alert-triage": "Alert triage",
    "field_alert-triage_time": "When (Swedish time)", "field_alert_id": "Alert id",
    "field_action": "What was done", "field_assignee": "Assigned to", "field_note": "Note",
    "hint_alert-triage_alert_id": "The alert's id, as on the alerts page.",
    "hint_alert-triage_assignee": "When assigning: the dashboard user name of the person who takes it, "
                                  "never a reference to a warned person.",
    "hint_alert-triage_note": "When resolving: what was done or decided.",
    "triage": "Triage", "triage_new": "New", "triage_by": "by", "triage_to": "to",
    "only_open_alerts": "Only open alerts (not resolved)", "open_alerts": "Open alerts",
    "acknowledge": "Acknowledge", "assign": "Assign…", "resolve": "Resolve…",
    "back_to_alerts": "Back to the alerts",
    "exit_programme": "Exit programme", "exit_overall": "All groups",
    "exit_offers": "Support offers", "exit_accepted": "Accepted (uptake)",
    "people_offered": "People offered", "people_accepted": "People who accepted",
    "exit_milestones": "Milestones", "people_in_programme": "People in the programme",
    "left_group": "Left the group", "left_area": "Left the area",
    "exit_people": "People (analysts only; this view is logged)",
    "services_offered": "Offered", "services_accepted": "Accepted", "exit_steps": "Milestones reached",
    "exit_people_hidden": "Who was offered support or reached a milestone is shown to analysts only.",
    "exit_v1_note": "A milestone posted as gvi.exit.milestone.v1 names its step in free text (shown as "
                    "posted, in quotation marks) and never counts as an outcome.",
    "exit_counts_note": "People are counted once per group they were named in; offers and acceptances "
                        "to a whole group count as offers but name no person.",
    "brief_attendance": "Attendance at this call-in",
    "error_400": "The request could not be read", "error_403": "Not allowed", "error_404": "Not found",
    "error_411": "The form could not be read", "error_413": "Too much sent at once",
    "error_422": "Something in the request is not valid", "error_503": "Not available just now",
    "error_detail": "What the dashboard said (in English)",
    "person_refs_exported": "distinct person references in the export",
}

_SV: dict[str, str] = {
    "title": "GVI lägesbild", "board": "Grupper", "cases": "Ärenden", "alerts": "Larm",
    "stats": "Statistik", "call_ins": "Call-ins", "logout": "Logga ut",
    "login": "Logga in", "username": "Användarnamn", "password": "Lösenord", "live": "Live",
    "stale": "Ingen anslutning: det du ser kan vara inaktuellt. Återansluter…",
    "stale_since": "Inaktuellt sedan",
    "stale_since_detail": "lägesbilden har inte fått svar från händelseloggen sedan dess: det du ser kan "
                          "vara inaktuellt",
    "group": "Grupp", "name": "Namn", "area": "Område", "status": "Status", "warned_since": "Varnad sedan",
    "open_cases": "Öppna ärenden", "stalled_cases": "Avstannade", "last_incident": "Senaste händelse",
    "incident": "Händelse", "kind": "Typ", "date": "Datum", "warning": "Bruten varning",
    "days_since": "Dagar sedan händelsen", "sanctions": "Sanktioner hittills", "agency": "Myndighet",
    "days_after": "Dagar efter händelsen", "none": "inga", "stalled": "Avstannat",
    "all": "Alla", "open": "Öppna", "filter": "Visa", "alert": "Larm", "raised": "Utlöst",
    "withdrawn": "Återkallat", "include_withdrawn": "Visa återkallade",
    "year": "År", "month": "Månad", "shootings": "Bekräftade skjutningar",
    "shootings_without_injury": "Skjutningar utan skadade", "killed_in_shootings": "Döda vid skjutningar",
    "injured_in_shootings": "Skadade vid skjutningar", "explosions": "Sprängningar",
    "follow_through": "Uppföljning", "swiftness_median": "Snabbhet, median dagar",
    "swiftness_p90": "Snabbhet, 90:e percentilen dagar", "certainty": "Säkerhet (andel sanktionerade)",
    "from": "Från", "to": "Till (ej inkl.)", "any_area": "Alla områden", "per_year": "Per år",
    "per_month": "Per månad", "apply": "Visa", "brief": "Underlag för call-in", "print": "Skriv ut",
    "download_pdf": "Ladda ner PDF", "warnings_given": "Givna varningar", "violations": "Överträdelser",
    "since_previous": "sedan föregående call-in", "since_first_warning": "sedan första varningen",
    "since_beginning": "allt registrerat",
    "other_enforcement": "Övriga åtgärder (ej kopplade till överträdelse)",
    "support": "Stöd", "offered": "Erbjudet", "accepted": "Accepterat", "service": "Insats",
    "scheduled_for": "Planerat till", "held": "Genomfört", "location": "Plats", "invited": "Inbjudna grupper",
    "channel": "Kanal", "people": "Personreferenser (endast analytiker; visningen loggas)",
    "person_ref": "Personreferens", "user": "Användare", "role": "Roll", "resource": "Läst",
    "erased": "raderad", "time": "Tid", "via": "Via", "cases_total": "Ärenden", "sanctioned": "Sanktionerade",
    "chart_title": "Bekräftade skjutningar och sprängningar per period", "baseline": "Övriga sanktioner",
    "updates": "Sidan har ändrats sedan den öppnades.", "reload": "Ladda om",
    "skip": "Till innehållet", "language": "English", "no_rows": "Inget att visa.",
    "newest_shown": "De senaste %(shown)s av %(total)s visas (GET /api/alerts listar alla).",
    "wrong_login": "Fel användarnamn eller lösenord.", "not_found": "Hittades inte",
    "login_wait": "För många misslyckade inloggningar från din adress: försök igen om {seconds} s.",
    "login_busy": "För många inloggningar kontrolleras just nu: försök igen om en stund.",
    "audit": "Granskning", "access_log": "Åtkomstlogg",
    "audit_unavailable": "Granskningsspåret kan inte visas",
    "last_verification": "Senaste verifiering", "verification_ok": "Verifierad: loggen är oförändrad",
    "verification_failed": "Verifieringen MISSLYCKADES", "records": "bekräftade poster",
    "checkpoints_matching": "matchande kontrollpunkter",
    "unverified_records": "nyare än senaste kontrollpunkten",
    "signed_by": "signerad med nyckel",
    "no_verification": "Inget signerat verifieringsresultat har publicerats ännu.",
    "checkpoints_per_partition": "Kontrollpunkter per partition", "topic": "Ämne", "partition": "Partition",
    "checkpoints": "Kontrollpunkter", "last_offset": "Senaste offset", "records_covered": "Täckta poster",
    "last_checkpoint": "Senaste kontrollpunkt", "chain_head": "Kedjans huvud", "key": "Nyckel",
    "checkpoint_problems": "Kontrollpunkter som inte verifieras med granskarnas nycklar:",
    "checkpoint_records_read": "poster lästa från kontrollpunktsämnet", "yes": "ja", "no": "nej",
    "public_title": "Skjutningar och sprängningar: offentlig statistik",
    "public_intro": "Antal per år eller månad och område, från de händelser som rapporterats till "
                    "samverkan, så som de ser ut i dag. Siffrorna revideras när händelser granskas; "
                    "inget här namnger en person, en grupp eller en händelse.",
    "public_periods": "År och månader är i svensk tid (Europe/Stockholm).",
    "public_shootings_definition": "Skjutningar: endast bekräftade skjutningar; döda och skadade är "
                                   "personer som dödats eller skadats vid dem.",
    "public_explosions_definition": "Sprängningar: alla rapporterade sprängningar, bekräftade eller inte, "
                                    "som i samverkans publicerade siffror; nästa kolumn visar hur många "
                                    "av dem som bekräftats vid granskning.",
    "public_suppression": "Små tal visas inte: ett antal från 1 till %(below)s visas som "
                          "”<%(threshold)s”.",
    "public_withheld": "”..”: en summa som inte visas eftersom den tillsammans med siffrorna ovanför "
                       "skulle avslöja ett antal som inte visas.",
    "explosions_reported": "Sprängningar (alla rapporterade)", "explosions_confirmed": "varav bekräftade",
    "download_csv": "Ladda ner som CSV", "total": "Totalt", "staff_login": "Inloggning för personal",
    "group_audit": "Gruppkartläggning", "memberships": "Medlemskap per grupp",
    "memberships_people": "Medlemskap per grupp (personreferenser och underlag: endast analytiker; "
                          "visningen loggas)",
    "current_members": "Bedömda medlemmar nu", "expiring_count": "Upphör inom 30 dagar",
    "expiring": "Bedömningar som upphör inom 30 dagar",
    "expiring_note": "Svenska kalenderdagar: till och med %(day)s (Europe/Stockholm). Den som bedömts "
                     "på nytt med senare slutdatum visas inte.",
    "source_grade": "Källvärdering", "evidence": "Underlag", "valid_from": "Giltig från",
    "valid_until": "Giltig till", "relations": "Relationer mellan grupper", "relation": "Relation",
    "other_group": "Annan grupp", "since": "Sedan",
    "relations_note": "Den relation som gäller för varje par av grupper: den senast registrerade, om "
                      "inte polisen därefter har registrerat att den upphört.",
    "unmatched": "Sanktioner som inte kunde kopplas till någon grupp", "reason": "Orsak",
    "sanction": "Sanktion",
    "unmatched_note": "Sanktioner mot en person som saknade giltig medlemskapsbedömning vid tillfället; "
                      "en senare bedömning kan fortfarande koppla dem.",
    "all_groups": "Alla grupper",
    "enter": "Registrera", "all_forms": "Alla formulär",
    "entry_intro": "Du registrerar för {agency}. Det du registrerar här skickas till samverkans "
                   "händelselogg på samma sätt som myndighetens eget system skulle skicka det, i "
                   "myndighetens namn; åtkomstloggen visar att det var du som registrerade det.",
    "form_call-in": "Genomfört call-in",
    "form_warning": "Framförd varning (hembesök, brev, individuellt samtal)",
    "form_support": "Erbjudet stöd",
    "field_time": "När (svensk tid)", "field_call_in_id": "Call-in", "field_attended": "Närvarande",
    "field_no_shows": "Kallade som inte kom", "field_group_id": "Grupp", "field_channel": "Kanal",
    "field_person_ref": "Personreferens",
    "field_promised_levers": "Sanktioner som gruppen fick veta skulle följa",
    "field_service": "Insats",
    "hint_call-in_attended": "En person per rad: gruppens id, sedan personreferensen "
                             "(t.ex. grp-norra-42 mun:s-5521).",
    "hint_call-in_no_shows": "En person per rad, som ovan.",
    "hint_warning_person_ref": "När varningen nådde en person: myndighetens referens, aldrig ett namn.",
    "hint_warning_call_in_id": "Endast för en varning som framförts vid ett call-in.",
    "hint_support_person_ref": "När erbjudandet gäller en person: myndighetens referens, aldrig ett namn.",
    "hint_support_service": "Till exempel boende, arbete, stödlinje, flytt till annan ort.",
    "optional": "(frivilligt)", "choose": "Välj…", "submit_entry": "Registrera",
    "entry_refused": "Inte registrerat:",
    "entry_time_required": "Ange datum och tid då det hände.",
    "entry_time_invalid": "Ange datum och tid som 2026-03-01T14:30 (svensk tid).",
    "entry_damaged": "Formuläret var skadat och har fått ett nytt händelse-id; kontrollera fälten och "
                     "skicka det igen.",
    "entry_not_logged": "Registreringen kunde inte skrivas till åtkomstloggen, så inget skickades. Skicka "
                        "formuläret igen om en stund.",
    "entry_intake_down": "Mottagningen kan inte ta emot registreringen just nu. Den kan ha registrerats "
                         "eller inte: skicka formuläret igen om en stund. Det behåller sitt händelse-id, så "
                         "det registreras aldrig två gånger.",
    "entry_key_refused": "Mottagningen godtar inte lägesbildens nyckel för din myndighet, så inget "
                         "registrerades. Kontakta samverkans administratör.",
    "entry_recorded": "Registrerat", "entry_accepted": "Registreringen finns i samverkans händelselogg.",
    "entry_repeat": "Detta var redan registrerat: inget nytt skrevs; detta är dess kvitto.",
    "event_id": "Händelse-id", "offset": "Offset", "recorded_at": "Registrerat (UTC)",
    "enter_another": "Registrera en till", "retract_this_entry": "Återkalla registreringen",
    "form_call-in-scheduled": "Planerat call-in",
    "form_support-accepted": "Accepterat stöd",
    "form_exit-milestone": "Steg i avhopparverksamheten",
    "form_relation-ended": "Avslutad relation mellan två grupper",
    "form_retraction": "Återkalla en registrering",
    "field_scheduled_for": "Äger rum (svensk tid)", "field_location": "Plats",
    "field_invited_group_ids": "Inbjudna grupper", "field_other_group_id": "Andra gruppen",
    "field_retracted_event_id": "Händelse-id för registreringen som återkallas", "field_reason": "Skäl",
    "field_call-in-scheduled_time": "När det planerades (svensk tid)",
    "field_relation-ended_time": "När relationen upphörde (svensk tid)",
    "field_retraction_time": "När den återkallas (svensk tid)",
    "field_exit-milestone_service": "Insats som steget krävde", "field_milestone": "Steg",
    "hint_call-in-scheduled_call_in_id": "Samverkans id för call-in, t.ex. ci-2026-03.",
    "hint_call-in-scheduled_invited_group_ids": "Ett grupp-id per rad.",
    "hint_support-accepted_person_ref": "När en person accepterade: myndighetens referens, aldrig ett namn.",
    "hint_support-accepted_service": "Till exempel boende, arbete, stödlinje, flytt till annan ort.",
    "hint_exit-milestone_person_ref": "Personen som lämnar gruppen: myndighetens referens, aldrig ett namn.",
    "hint_exit-milestone_service": "Om steget krävde en insats: till exempel flytt till annan ort, boende, "
                                   "arbete.",
    "hint_relation-ended_group_id": "En av de två grupperna.",
    "hint_relation-ended_other_group_id": "Den andra gruppen. Relationen som registrerats mellan dem "
                                          "(konflikt, allians) gäller inte längre, tills en ny "
                                          "registreras.",
    "hint_retraction_retracted_event_id": "Händelse-id på registreringens kvitto: en registrering som din "
                                          "myndighet gjort. Därefter räknas den som om den aldrig hänt "
                                          "(loggen behåller båda).",
    "hint_retraction_reason": "Varför, t.ex. felregistrerad: fel grupp. Registrera den rätta på nytt i "
                              "dess eget formulär.",
    "call_in": "Call-in", "call_in_prep": "Förberedelse och närvaro", "not_held_yet": "Ännu inte genomfört",
    "as_of": "Per", "members": "Medlemmar då", "members_on_probation": "varav under frivård",
    "attended": "Närvarande", "no_shows": "Uteblivna", "no_shows_on_probation": "Uteblivna under frivård",
    "raised_to_probation": "Larm till Frivården",
    "alert_pending": "larmet har ännu inte kommit från processorn", "not_invited": "inte inbjuden",
    "invited_people": "Inbjudna och kallade personer (endast analytiker; visningen loggas)",
    "on_probation": "Under frivård", "on_probation_since": "sedan frivårdsåtgärden",
    "not_known_to_probation": "inte känd av Frivården", "attendance": "Närvaro",
    "member": "Medlem då", "came": "kom", "stayed_away": "uteblev", "not_listed": "inte upptagen",
    "probation_note": "Under frivård: en frivårdsåtgärd mot personen under de tre åren före call-in "
                      "(regel 9, docs/rules.md). Ingen visas som \u201cinte under frivård\u201d: "
                      "händelserna kan bara säga vem som är känd av Frivården.",
    "people_hidden": "Vilka som är inbjudna, under frivård eller uteblev visas endast för analytiker.",
    "form_alert-triage": "Hantering av larm",
    "field_alert-triage_time": "När (svensk tid)", "field_alert_id": "Larm-id",
    "field_action": "Vad som gjordes", "field_assignee": "Tilldelat", "field_note": "Anteckning",
    "hint_alert-triage_alert_id": "Larmets id, som på larmsidan.",
    "hint_alert-triage_assignee": "Vid tilldelning: användarnamnet i lägesbilden för den som tar larmet, "
                                  "aldrig en referens till en person som fått budskapet.",
    "hint_alert-triage_note": "Vid åtgärdat: vad som gjordes eller beslutades.",
    "triage": "Hantering", "triage_new": "Nytt", "triage_by": "av", "triage_to": "till",
    "only_open_alerts": "Endast öppna larm (ej åtgärdade)", "open_alerts": "Öppna larm",
    "acknowledge": "Kvittera", "assign": "Tilldela…", "resolve": "Åtgärda…",
    "back_to_alerts": "Tillbaka till larmen",
    "exit_programme": "Avhopparverksamheten", "exit_overall": "Alla grupper",
    "exit_offers": "Erbjudet stöd", "exit_accepted": "Accepterat (uppslutning)",
    "people_offered": "Personer som erbjudits stöd", "people_accepted": "Personer som accepterat",
    "exit_milestones": "Steg", "people_in_programme": "Personer i verksamheten",
    "left_group": "Lämnat gruppen", "left_area": "Flyttat från området",
    "exit_people": "Personer (endast analytiker; visningen loggas)",
    "services_offered": "Erbjudet", "services_accepted": "Accepterat", "exit_steps": "Uppnådda steg",
    "exit_people_hidden": "Vilka som erbjudits stöd eller nått ett steg visas endast för analytiker.",
    "exit_v1_note": "Ett steg registrerat som gvi.exit.milestone.v1 anger steget i fritext (visas som "
                    "registrerat, inom citattecken) och räknas aldrig som ett utfall.",
    "exit_counts_note": "Personer räknas en gång per grupp de angetts för; stöd som erbjudits eller "
                        "accepterats av en hel grupp räknas som erbjudanden men anger ingen person.",
    "brief_attendance": "Närvaro vid detta call-in",
    "error_400": "Begäran kunde inte läsas", "error_403": "Inte tillåtet", "error_404": "Hittades inte",
    "error_411": "Formuläret kunde inte läsas", "error_413": "För mycket skickat på en gång",
    "error_422": "Något i begäran är inte giltigt", "error_503": "Inte tillgängligt just nu",
    "error_detail": "Vad lägesbilden svarade (på engelska)",
    "person_refs_exported": "unika personreferenser i exporten",
}


class Labels(dict[str, str]):
    """One language's labels, and its terms for the values of events and rules."""

    def __init__(self, lang: str) -> None:
        super().__init__(_SV if lang == "sv" else _EN)
        self.lang = "sv" if lang == "sv" else "en"

    def __missing__(self, key: str) -> str:
        return _EN.get(key, key)

    def term(self, vocabulary: str, value: object) -> str:
        return term(self.lang, vocabulary, value)


def labels(lang: str) -> Labels:
    return Labels(lang)


def choose_language(cookie: str | None, accept_language: str | None) -> str:
    if cookie in LANGUAGES:
        return str(cookie)
    first = (accept_language or "").split(",")[0].strip().lower()
    return "sv" if first.startswith("sv") else "en"
