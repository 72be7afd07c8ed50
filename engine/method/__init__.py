"""The partnership method, a plugin of the host: its connectors (the convention generated,
signatures recorded, the map kept up to date, renewals applied), the map of networks,
cooperations and conventions, the convention document, the reminders, the direction's
dashboard (and the figures it keeps as tasks are completed) and the demo organisation.

The method uses the host (runtime, access, audit, store); the host never imports it and
finds it through the `partnerflow.plugins` entry point (pyproject.toml). Its processes and
decisions are the BPMN and DMN files of bpmn/, its forms those of forms/.
"""

from __future__ import annotations

from partnerflow.engine.method import connectors, figures, plan, reminders
from partnerflow.engine.runtime.events import InstanceStarted, TaskCompleted
from partnerflow.engine.runtime.host import Plugin

PLUGIN = Plugin("method", jobs={"reminders": reminders.start_all, "dashboard figures": figures.expire},
                handlers={TaskCompleted: [figures.task_completed],
                          InstanceStarted: [plan.instance_started]})

__all__ = ["PLUGIN", "connectors", "plan"]
