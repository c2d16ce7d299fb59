-- The shard map (how many engine shards own the events; its version changes with the count) and the
-- fence of each shard: an engine owns "shard K of N" while its claim's epoch is the row's epoch.
-- Every write of a sharded engine calls happening_fence() in the same statement: it takes the row
-- FOR SHARE, so a claim (an UPDATE of the row) waits for the writes in flight of the previous owner
-- and every later write of that owner fails (SQLSTATE HF001). The map has no rows until an entry
-- point seeds it (`happening migrate` with HAPPENING_ENGINE_SHARDS, see store/shards.py).
create table shard_map (
    id boolean primary key default true check (id),
    version bigint not null,
    shards int not null check (shards between 1 and 1024),
    changed_at timestamptz not null default now()
);

create table shard_owners (
    shards int not null,
    shard int not null,
    epoch bigint not null default 0,
    owner text,
    claimed_at timestamptz,
    primary key (shards, shard)
);

-- Epochs come from one sequence, so they also order claims across map versions (the Redis keys of an
-- event carry the epoch of the owner that wrote them: a lower one is stale, a higher one wins).
create sequence shard_epochs;

-- true, or an error: HF001 when (shards, shard) is no longer claimed with `epoch` or the map no longer
-- has `shards` shards. An epoch of null:
-- an unsharded engine (`happening serve`, one process owning every event), nothing to check.
create function happening_fence(p_shards int, p_shard int, p_epoch bigint) returns boolean
language plpgsql as $$
begin
    if p_epoch is null then
        return true;
    end if;
    perform 1 from shard_owners o, shard_map m
    where o.shards = p_shards and o.shard = p_shard and o.epoch = p_epoch and m.shards = p_shards for share of o;
    if not found then
        raise exception 'shard % of % has a newer owner than epoch %', p_shard, p_shards, p_epoch
            using errcode = 'HF001';
    end if;
    return true;
end $$;

-- Raises HF002: a write reached its last statement after the deadline of one of its commands (the API
-- answers 503 once that deadline passed, so it must not commit).
create function happening_late(p_deadline timestamptz) returns boolean
language plpgsql as $$
begin
    raise exception 'the command deadline % passed before the write committed', p_deadline
        using errcode = 'HF002';
end $$;
