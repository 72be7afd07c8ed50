"""The per-version heatmap of the time each task takes."""

from __future__ import annotations

from sqlalchemy import select

from partnerflow.engine.runtime import auditlog
from partnerflow.engine.store.models import ProcessVersion
from tests.web.support import complete, start_review


def test_the_heatmap_ranks_tasks_by_their_median_time_across_instances(world, as_user):
    pf, clock = world.pf, world.pf.clock
    clock.advance(hours=6)
    complete(pf, world.task_own, "claire", {"decision": "done"})
    other = start_review(pf, world.own)
    clock.advance(hours=2)
    complete(pf, other, "claire", {"decision": "done"})
    with pf.read() as db:
        version_id = db.scalar(select(ProcessVersion.id).where(ProcessVersion.process_key == "review_loop"))
        [review] = auditlog.version_heatmap(db, version_id)
    assert (review.element_id, review.count, review.slowest_hours) == ("review", 2, 6.0)
    assert review.median_hours == 4.0 and review.heat == 5
    page = as_user("alice").get(f"/versions/{version_id}/temps")
    assert page.status_code == 200 and 'data-heat5="review"' in page.get_data(as_text=True)
    assert as_user("sophie").get(f"/versions/{version_id}/temps").status_code == 403
