-- The SQL of one `get-by-id` request, as the api issues it (written by `probe statements`).
\set n 1 + random(0, 999) * 100
SELECT "tasks"."id", "tasks"."owner_id", "tasks"."description", "tasks"."priority", "tasks"."start_at", "tasks"."due_at", "tasks"."done", "tasks"."completed_at", "tasks"."created_at", "tasks"."updated_at", "tasks"."version", "tasks"."parent_id" FROM "tasks" WHERE "tasks"."owner_id" = :s1p1 AND "tasks"."id" IN (('00000000-0000-4000-8000-' || lpad(to_hex(:n::int), 12, '0'))::uuid);
