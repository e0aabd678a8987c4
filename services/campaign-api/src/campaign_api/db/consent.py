"""Sign-ups, consent records and the preference centre's memberships, one contact at a time.

Every query is scoped by workspace or by a contact found through it."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, UUID, insert
from sqlalchemy.ext.asyncio import AsyncConnection

from campaign_api.db.contact_tables import consents, contacts, list_members, lists, suppressions
from campaign_api.db.tables import AnyRow, workspaces

# What contacts.changed needs of a contact (usecases._contact_events.ContactRow), and its id.
CONTACT = (contacts.c.id, contacts.c.email, contacts.c.name, contacts.c.fields, contacts.c.tags,
           contacts.c.timezone, contacts.c.language, contacts.c.status, contacts.c.send_hours,
           contacts.c.updated_at)


async def signup_list(conn: AsyncConnection, list_id: uuid.UUID) -> AnyRow | None:
    """A list anyone may sign up to (a public list of kind 'list'), with its workspace's name
    (the confirmation mail's sender)."""
    return (await conn.execute(
        sa.select(lists.c.id, lists.c.workspace_id, lists.c.name, lists.c.description,
                  lists.c.consent_text, workspaces.c.name.label("workspace_name"))
        .join(workspaces, workspaces.c.id == lists.c.workspace_id)
        .where(lists.c.id == list_id, lists.c.kind == "list", lists.c.public))).first()


async def workspace_list(
    conn: AsyncConnection, workspace_id: uuid.UUID, list_id: uuid.UUID
) -> AnyRow | None:
    return (await conn.execute(sa.select(lists).where(
        lists.c.id == list_id, lists.c.workspace_id == workspace_id,
        lists.c.kind == "list"))).first()


async def signup_contact(
    conn: AsyncConnection, workspace_id: uuid.UUID, email: str, name: str
) -> AnyRow:
    """The contact of a sign-up: a new one is 'pending' until confirmed; an existing one keeps
    its status and name (a stranger's sign-up must not change what is known of someone), but
    gains a name if it had none."""
    stmt = insert(contacts).values(id=uuid.uuid4(), workspace_id=workspace_id, email=email,
                                   name=name, status="pending", source="form")
    upsert = stmt.on_conflict_do_update(
        constraint="contacts_address",
        set_={"name": sa.case((contacts.c.name == "", stmt.excluded.name),
                              else_=contacts.c.name)},
    ).returning(*CONTACT, (sa.literal_column("xmax") == 0).label("inserted"))
    row: AnyRow = (await conn.execute(upsert)).one()
    return row


async def locked_contact(
    conn: AsyncConnection, workspace_id: uuid.UUID, email: str
) -> AnyRow | None:
    """The contact of the address, locked until the transaction ends: a confirmation and a
    preference change of the same person run one after the other."""
    return (await conn.execute(sa.select(*CONTACT).where(
        contacts.c.workspace_id == workspace_id, contacts.c.email == email).with_for_update())
    ).first()


async def record_consent(conn: AsyncConnection, *, confirmed: bool = False,
                         **values: Any) -> int:
    """One consent record (contact_id, list_id, source, ip, user_agent, consent_text),
    `confirmed` now where it needs no confirmation; its id."""
    if confirmed:
        values["confirmed_at"] = sa.func.now()
    consent_id: int = (await conn.execute(
        consents.insert().values(**values).returning(consents.c.id))).scalar_one()
    return consent_id


async def confirm_consent(
    conn: AsyncConnection, contact_id: uuid.UUID, list_id: uuid.UUID
) -> bool:
    """The newest unconfirmed form consent of the contact for the list, confirmed now; False
    when there is none (confirmed already, or never signed up)."""
    c = consents.c
    newest = (sa.select(c.id).where(c.contact_id == contact_id, c.list_id == list_id,
                                    c.source == "form", c.confirmed_at.is_(None),
                                    c.withdrawn_at.is_(None))
              .order_by(c.given_at.desc(), c.id.desc()).limit(1).scalar_subquery())
    done = await conn.execute(sa.update(consents).where(c.id == newest)
                              .values(confirmed_at=sa.func.now()).returning(c.id))
    return done.first() is not None


async def delete_consents(conn: AsyncConnection, *, contact_ids: Sequence[uuid.UUID] = (),
                          list_id: uuid.UUID | None = None) -> None:
    """The consent records of deleted contacts, or of a deleted list: what a cascading foreign
    key would do, for a log that has none (`contact_tables.consents`)."""
    c = consents.c
    if contact_ids:
        await conn.execute(sa.delete(consents).where(
            c.contact_id == sa.func.any(sa.cast(list(contact_ids), ARRAY(UUID(as_uuid=True))))))
    if list_id is not None:
        await conn.execute(sa.delete(consents).where(c.list_id == list_id))


async def withdraw_consents(
    conn: AsyncConnection, contact_id: uuid.UUID, list_id: uuid.UUID | None = None
) -> None:
    """The contact's consents for the list (None: every one) marked withdrawn now; the record
    of what they once agreed to stays."""
    c = consents.c
    query = sa.update(consents).where(c.contact_id == contact_id, c.withdrawn_at.is_(None))
    if list_id is not None:
        query = query.where(c.list_id == list_id)
    await conn.execute(query.values(withdrawn_at=sa.func.now()))


async def set_contact_status(conn: AsyncConnection, contact_id: uuid.UUID,
                             status: str) -> AnyRow | None:
    """The contact's new row, or None when it already was in `status`."""
    return (await conn.execute(
        sa.update(contacts).where(contacts.c.id == contact_id, contacts.c.status != status)
        .values(status=status, updated_at=sa.func.now()).returning(*CONTACT))).first()


async def join_list(conn: AsyncConnection, list_id: uuid.UUID, contact_id: uuid.UUID) -> bool:
    """True when the contact was not on the list before."""
    done = await conn.execute(insert(list_members).values(list_id=list_id, contact_id=contact_id)
                              .on_conflict_do_nothing().returning(list_members.c.list_id))
    return done.first() is not None


async def is_member(conn: AsyncConnection, list_id: uuid.UUID, contact_id: uuid.UUID) -> bool:
    return bool((await conn.execute(sa.select(sa.exists().where(
        list_members.c.list_id == list_id, list_members.c.contact_id == contact_id)))).scalar())


async def leave_list(conn: AsyncConnection, list_id: uuid.UUID, contact_id: uuid.UUID) -> bool:
    """True when the contact was on the list."""
    done = await conn.execute(sa.delete(list_members).where(
        list_members.c.list_id == list_id, list_members.c.contact_id == contact_id)
        .returning(list_members.c.list_id))
    return done.first() is not None


async def public_lists_of(
    conn: AsyncConnection, workspace_id: uuid.UUID, contact_id: uuid.UUID
) -> list[AnyRow]:
    """The workspace's public lists, each marked with whether the contact is on it."""
    member = sa.exists().where(list_members.c.list_id == lists.c.id,
                               list_members.c.contact_id == contact_id)
    return list((await conn.execute(
        sa.select(lists.c.id, lists.c.name, lists.c.description, lists.c.consent_text,
                  member.label("member"))
        .where(lists.c.workspace_id == workspace_id, lists.c.kind == "list", lists.c.public)
        .order_by(lists.c.name, lists.c.id))).all())


async def suppression_reason(
    conn: AsyncConnection, workspace_id: uuid.UUID, email: str
) -> str | None:
    reason: str | None = (await conn.execute(sa.select(suppressions.c.reason).where(
        suppressions.c.workspace_id == workspace_id, suppressions.c.email == email))
    ).scalar_one_or_none()
    return reason


async def leave_every_list(conn: AsyncConnection, contact_id: uuid.UUID) -> list[uuid.UUID]:
    """The contact taken off every list; the lists it was on."""
    return list((await conn.execute(sa.delete(list_members).where(
        list_members.c.contact_id == contact_id).returning(list_members.c.list_id))).scalars())
