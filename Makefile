# One command to set up and run the demo, one to set up and run the tests.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test validate plan schema catalogs bench bytecode clean help

help:
	@echo "make demo   set up .venv and rehearse a year of the sample plan (no credentials, no servers)"
	@echo "make test   set up .venv and run the tests"
	@echo "make bench  run the benchmarks in bench/"
	@echo "make schema regenerate schema/ (editors' completion) from the sample config"
	@echo "make catalogs  extract the messages and update the translations in samverkan/locale"

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# The package byte-compiled, as a regular install leaves it: an editable install leaves it
# to the first run, which writes nothing where PYTHONDONTWRITEBYTECODE is set, so every
# command would compile it again. Done on each make, so edits are compiled too (it only
# looks at the files when nothing changed).
bytecode: $(STAMP)
	@$(BIN)/python -m compileall -q samverkan publishers scheduler.py
	@$(BIN)/pybabel --quiet compile -d samverkan/locale -D samverkan  # the message catalogs (.po -> .mo)

# After changing messages in the code: extract them into the template and update every
# language's catalog (samverkan/locale/*/LC_MESSAGES/samverkan.po), then translate there.
catalogs: $(STAMP)
	$(BIN)/pybabel extract --no-wrap --sort-by-file -k N_ -k ngettext:1,2 --project samverkan \
	    --copyright-holder samverkan -o samverkan/locale/samverkan.pot samverkan publishers scheduler.py
	$(BIN)/pybabel update --no-wrap -i samverkan/locale/samverkan.pot -d samverkan/locale -D samverkan

# The main job on the bundled sample plan, with no credentials and no servers: check the
# plan, then rehearse 2018 with every channel writing files under rehearsal/2018.
demo: bytecode
	$(BIN)/samverkan validate --strict
	$(BIN)/samverkan rehearse --from 2018-01-01 --to 2018-12-31 --out rehearsal/2018 --assume-approved
	$(BIN)/samverkan plan --year 2018 --format html --out rehearsal/arshjul-2018.html
	$(BIN)/samverkan plan --format ics --out rehearsal/evenemang.ics
	@echo
	@echo "Demo done (approvals were assumed: see 'samverkan approvals'). Look at:"
	@echo "  rehearsal/2018/webb/feed.xml         the website's RSS feed after the year"
	@echo "  rehearsal/2018/press/*.eml           each press release exactly as mailed"
	@echo "  rehearsal/2018/facebook-*/*.json     each Facebook post's fields"
	@echo "  rehearsal/2018/instagram-*/*.json    each Instagram post's fields"
	@echo "  rehearsal/arshjul-2018.html          the annual wheel (årshjul) of 2018"
	@echo "  rehearsal/evenemang.ics              the calendar of public events, 2017-2019"
	@echo "  .venv/bin/samverkan plan --year 2018 the plan as a table"
	@echo "The sample agreement ran 2017-2019: with today's clock nothing is due. Look at it as on a day"
	@echo "inside it:"
	@echo "  .venv/bin/samverkan --now 2018-08-01T09:00 approvals        what waits for whose approval"
	@echo "  .venv/bin/samverkan --now 2018-08-01T09:00 status           what is coming, per channel"
	@echo "  .venv/bin/samverkan --now 2018-08-01T09:00 preview --serve  the previews, for press staff"

test: bytecode
	$(BIN)/python -m pytest

validate: bytecode
	$(BIN)/samverkan validate

plan: bytecode
	$(BIN)/samverkan plan

# The editors' schemas of the sample plan, fitted to its config (a test checks they are current).
schema: bytecode
	$(BIN)/samverkan schema --out schema

bench: bytecode
	@for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) rehearsal preview
