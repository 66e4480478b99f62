"""SQLAlchemy ORM schema of a workbench project.

Every table of the data model lives here. The first Alembic migration
creates exactly these tables, and a test compares the two, so a change here
needs a new migration in ``migrations/versions``.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Optional

from sqlalchemy import (
    JSON,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Label sources. "imported" labels come with the data set (folder names,
# manifests, the demo's seed labels); "human" labels were set in the window.
SOURCE_HUMAN = "human"
SOURCE_IMPORTED = "imported"
SOURCE_PSEUDO = "pseudo"
SOURCE_WEAK = "weak"
LABEL_SOURCES = (SOURCE_HUMAN, SOURCE_IMPORTED, SOURCE_PSEUDO, SOURCE_WEAK)
# Labels a job trains on by default: the ones a person or the data set gave.
GIVEN_SOURCES = (SOURCE_HUMAN, SOURCE_IMPORTED)

KIND_PSEUDO = "pseudo_label"
KIND_WEAK = "weak_label"
KIND_NOISE = "noise_flag"
PROPOSAL_KINDS = (KIND_PSEUDO, KIND_WEAK, KIND_NOISE)

PENDING = "pending"
ACCEPTED = "accepted"
REJECTED = "rejected"
SUPERSEDED = "superseded"
PROPOSAL_STATES = (PENDING, ACCEPTED, REJECTED, SUPERSEDED)

QUEUED = "queued"
RUNNING = "running"
SUCCEEDED = "succeeded"
FAILED = "failed"
CANCELLED = "cancelled"
JOB_STATES = (QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED)
ACTIVE_JOB_STATES = (QUEUED, RUNNING)

# Label event actions. An "undo" event reverts every event of one earlier
# decision; the history itself is never edited.
ACTION_LABEL = "label"
ACTION_ACCEPT = "accept"
ACTION_REJECT = "reject"
ACTION_UNDO = "undo"
ACTION_IMPORT = "import"


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON}


class LabelClass(Base):
    __tablename__ = "classes"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    color: Mapped[str] = mapped_column(String(9), default="#808080")
    shortcut: Mapped[Optional[str]] = mapped_column(String(16))
    position: Mapped[int] = mapped_column(Integer, default=0)


class Item(Base):
    __tablename__ = "items"
    __table_args__ = (
        UniqueConstraint("path", name="uq_items_path"),
        Index("ix_items_label", "label_class_id", "label_source"),
        Index("ix_items_sha256", "sha256"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Relative to the project folder when the file lies inside it, else absolute.
    path: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    split: Mapped[Optional[str]] = mapped_column(String(32))
    meta: Mapped[dict[str, Any]] = mapped_column(default=dict)
    label_class_id: Mapped[Optional[int]] = mapped_column(
        ForeignKey("classes.id", ondelete="RESTRICT")
    )
    label_source: Mapped[Optional[str]] = mapped_column(String(16))
    label_confidence: Mapped[Optional[float]] = mapped_column(Float)
    label_actor: Mapped[Optional[str]] = mapped_column(String(200))
    label_updated_at: Mapped[Optional[datetime]] = mapped_column(DateTime)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class LabelEvent(Base):
    """One append-only entry in an item's label history."""

    __tablename__ = "label_events"
    __table_args__ = (
        Index("ix_label_events_item", "item_id"),
        Index("ix_label_events_decision", "decision"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"))
    # Every event of one user action shares a decision number, so undo can
    # revert a whole batch at once.
    decision: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(16))
    old_class_id: Mapped[Optional[int]] = mapped_column(ForeignKey("classes.id"))
    new_class_id: Mapped[Optional[int]] = mapped_column(ForeignKey("classes.id"))
    old_source: Mapped[Optional[str]] = mapped_column(String(16))
    new_source: Mapped[Optional[str]] = mapped_column(String(16))
    old_confidence: Mapped[Optional[float]] = mapped_column(Float)
    new_confidence: Mapped[Optional[float]] = mapped_column(Float)
    old_actor: Mapped[Optional[str]] = mapped_column(String(200))
    actor: Mapped[str] = mapped_column(String(200))
    proposal_id: Mapped[Optional[int]] = mapped_column(
        ForeignKey("proposals.id", ondelete="SET NULL")
    )
    old_proposal_state: Mapped[Optional[str]] = mapped_column(String(16))
    undoes_decision: Mapped[Optional[int]] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_state", "state"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    state: Mapped[str] = mapped_column(String(16), default=QUEUED)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    device: Mapped[Optional[str]] = mapped_column(String(32))
    pid: Mapped[Optional[int]] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    started_at: Mapped[Optional[datetime]] = mapped_column(DateTime)
    finished_at: Mapped[Optional[datetime]] = mapped_column(DateTime)
    error: Mapped[Optional[str]] = mapped_column(Text)
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    log_path: Mapped[Optional[str]] = mapped_column(Text)


class Proposal(Base):
    __tablename__ = "proposals"
    __table_args__ = (
        Index("ix_proposals_state_kind", "state", "kind"),
        Index("ix_proposals_item", "item_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[Optional[int]] = mapped_column(
        ForeignKey("jobs.id", ondelete="SET NULL")
    )
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    class_id: Mapped[int] = mapped_column(ForeignKey("classes.id"))
    score: Mapped[float] = mapped_column(Float)
    evidence: Mapped[dict[str, Any]] = mapped_column(default=dict)
    state: Mapped[str] = mapped_column(String(16), default=PENDING)
    decided_by: Mapped[Optional[str]] = mapped_column(String(200))
    decided_at: Mapped[Optional[datetime]] = mapped_column(DateTime)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Embedding(Base):
    __tablename__ = "embeddings"
    __table_args__ = (UniqueConstraint("item_id", "space", name="uq_embeddings"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"))
    space: Mapped[str] = mapped_column(String(200))
    dim: Mapped[int] = mapped_column(Integer)
    # Little-endian float32, ``dim`` values.
    vector: Mapped[bytes] = mapped_column(LargeBinary)
    # SHA-256 of the image the vector was computed from, so a changed file
    # is recomputed.
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Projection(Base):
    __tablename__ = "projections"
    __table_args__ = (
        UniqueConstraint("item_id", "space", "method", name="uq_projections"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"))
    space: Mapped[str] = mapped_column(String(200))
    method: Mapped[str] = mapped_column(String(32))
    x: Mapped[float] = mapped_column(Float)
    y: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class WeakSource(Base):
    """A labeling rule or a CLIP prompt set."""

    __tablename__ = "weak_sources"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    definition: Mapped[dict[str, Any]] = mapped_column(default=dict)
    enabled: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class ImportIssue(Base):
    """A file an import could not take, with the reason."""

    __tablename__ = "import_issues"

    id: Mapped[int] = mapped_column(primary_key=True)
    path: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
