-- Spool views: answers to the questions people ask of the spool with sqlite3.
-- They are not versioned like the tables: spool_open() drops and recreates
-- them whenever this text changes (it keeps a hash of it in meta.views_hash),
-- so editing a view needs no migration. Every view is dropped by name first;
-- do not give views of your own these names.
--
-- Times are Unix nanoseconds; *_ms columns are milliseconds, *_utc ISO text.
-- A request is a SERVER span (kind = 2); it failed when its status is ERROR
-- (status_code = 2), which the API sets on 5xx and on caught failures.
-- Attribute keys contain dots, so a JSON path quotes them: '$."http.route"'.

DROP VIEW IF EXISTS trace_summary;
DROP VIEW IF EXISTS slow_requests;
DROP VIEW IF EXISTS route_stats;
DROP VIEW IF EXISTS error_rate_by_route;
DROP VIEW IF EXISTS exporter_backlog;
DROP VIEW IF EXISTS spool_size;

-- One row per trace. The root is the earliest span whose parent is not in the
-- spool: a request that arrived with a traceparent header has a remote parent.
-- One pass over span, joined to itself for the parents (SQLite indexes the
-- join on the fly: span has no index on trace_id); the root is the smallest
-- "start_ns id name" among the spans without a parent, and the counts are of
-- distinct ids, as the join repeats a span whose parent id is not unique.
CREATE VIEW trace_summary AS
SELECT s.trace_id,
       substr(min(CASE WHEN p.span_id IS NULL
                       THEN printf('%020d%020d', s.start_ns, s.id) || s.name END), 41)
         AS root_name,
       min(s.start_ns) AS start_ns,
       strftime('%Y-%m-%dT%H:%M:%fZ', min(s.start_ns) / 1e9, 'unixepoch') AS start_utc,
       round((max(s.end_ns) - min(s.start_ns)) / 1e6, 3) AS duration_ms,
       count(DISTINCT s.id) AS span_count,
       count(DISTINCT CASE WHEN s.status_code = 2 THEN s.id END) AS error_count,
       count(DISTINCT CASE WHEN s.status_code = 2 THEN s.id END) > 0 AS has_error
  FROM span AS s
  LEFT JOIN span AS p ON p.trace_id = s.trace_id AND p.span_id = s.parent_span_id
 GROUP BY s.trace_id;

-- Requests, slowest first. Add a LIMIT.
CREATE VIEW slow_requests AS
SELECT id, trace_id, span_id, name,
       json_extract(attributes, '$."http.route"') AS route,
       json_extract(attributes, '$."http.request.method"') AS method,
       json_extract(attributes, '$."url.path"') AS path,
       json_extract(attributes, '$."http.response.status_code"') AS status,
       json_extract(attributes, '$."client.address"') AS client,
       round((end_ns - start_ns) / 1e6, 3) AS duration_ms,
       start_ns,
       strftime('%Y-%m-%dT%H:%M:%fZ', start_ns / 1e9, 'unixepoch') AS start_utc
  FROM span
 WHERE kind = 2
 ORDER BY end_ns - start_ns DESC, id;

-- Per route template, over the whole spool: counts and nearest-rank
-- percentiles (the value at rank ceil(p/100 * n) in ascending order).
-- Requests that matched no route are grouped under their span name.
CREATE VIEW route_stats AS
WITH req AS (
  SELECT coalesce(json_extract(attributes, '$."http.route"'), name) AS route,
         end_ns - start_ns AS dur_ns,
         status_code = 2 AS failed
    FROM span
   WHERE kind = 2
), ranked AS (
  SELECT route, dur_ns, failed,
         row_number() OVER (PARTITION BY route ORDER BY dur_ns) AS rn,
         count(*) OVER (PARTITION BY route) AS n
    FROM req
)
SELECT route,
       n AS requests,
       sum(failed) AS errors,
       round(100.0 * sum(failed) / n, 2) AS error_pct,
       round(avg(dur_ns) / 1e6, 3) AS avg_ms,
       round(max(CASE WHEN rn = (50 * n + 99) / 100 THEN dur_ns END) / 1e6, 3) AS p50_ms,
       round(max(CASE WHEN rn = (95 * n + 99) / 100 THEN dur_ns END) / 1e6, 3) AS p95_ms,
       round(max(CASE WHEN rn = (99 * n + 99) / 100 THEN dur_ns END) / 1e6, 3) AS p99_ms,
       round(max(dur_ns) / 1e6, 3) AS max_ms
  FROM ranked
 GROUP BY route
 ORDER BY p95_ms DESC, route;

-- Per route template, requests that started in the last hour.
CREATE VIEW error_rate_by_route AS
SELECT coalesce(json_extract(attributes, '$."http.route"'), name) AS route,
       count(*) AS requests,
       sum(status_code = 2) AS errors,
       round(100.0 * sum(status_code = 2) / count(*), 2) AS error_pct,
       sum(json_extract(attributes, '$."http.response.status_code"') BETWEEN 400 AND 499)
         AS client_errors
  FROM span
 WHERE kind = 2
   AND start_ns >= (CAST(strftime('%s', 'now') AS INTEGER) - 3600) * 1000000000
 GROUP BY 1
 ORDER BY error_pct DESC, requests DESC, route;

-- Per exporter and stream: how far it got. max_id is the highest id ever
-- written to the stream (sqlite_sequence keeps it even after pruning);
-- backlog = max_id - last_id; pending_rows counts the rows still present past
-- the cursor (fewer than backlog when the size cap dropped some).
CREATE VIEW exporter_backlog AS
SELECT c.exporter, c.stream, c.last_id,
       coalesce(q.seq, 0) AS max_id,
       max(coalesce(q.seq, 0) - c.last_id, 0) AS backlog,
       CASE c.stream
         WHEN 'span'  THEN (SELECT count(*) FROM span  WHERE id > c.last_id)
         WHEN 'log'   THEN (SELECT count(*) FROM log   WHERE id > c.last_id)
         WHEN 'error' THEN (SELECT count(*) FROM error WHERE id > c.last_id)
       END AS pending_rows,
       strftime('%Y-%m-%dT%H:%M:%fZ', CASE c.stream
         WHEN 'span'  THEN (SELECT start_ns FROM span  WHERE id > c.last_id ORDER BY id LIMIT 1)
         WHEN 'log'   THEN (SELECT time_ns  FROM log   WHERE id > c.last_id ORDER BY id LIMIT 1)
         WHEN 'error' THEN (SELECT time_ns  FROM error WHERE id > c.last_id ORDER BY id LIMIT 1)
       END / 1e9, 'unixepoch') AS oldest_pending_utc,
       e.failures, e.retry_at_ns, e.last_error,
       strftime('%Y-%m-%dT%H:%M:%fZ', nullif(e.last_ok_ns, 0) / 1e9, 'unixepoch') AS last_ok_utc
  FROM cursor AS c
  LEFT JOIN sqlite_sequence AS q ON q.name = c.stream
  LEFT JOIN export_state AS e ON e.exporter = c.exporter
 ORDER BY c.exporter, c.stream;

-- Rows per table, with the id range and the oldest record's time. For bytes
-- per table see docs/spool.md (the dbstat query).
CREATE VIEW spool_size AS
SELECT 'span' AS table_name, count(*) AS row_count, min(id) AS first_id, max(id) AS last_id,
       strftime('%Y-%m-%dT%H:%M:%fZ', min(start_ns) / 1e9, 'unixepoch') AS oldest_utc
  FROM span
UNION ALL
SELECT 'log', count(*), min(id), max(id),
       strftime('%Y-%m-%dT%H:%M:%fZ', min(time_ns) / 1e9, 'unixepoch') FROM log
UNION ALL
SELECT 'error', count(*), min(id), max(id),
       strftime('%Y-%m-%dT%H:%M:%fZ', min(time_ns) / 1e9, 'unixepoch') FROM error
UNION ALL
SELECT 'resource', count(*), min(id), max(id), NULL FROM resource
UNION ALL
SELECT 'dead_letter', count(*), min(id), max(id),
       strftime('%Y-%m-%dT%H:%M:%fZ', min(time_ns) / 1e9, 'unixepoch') FROM dead_letter
UNION ALL
SELECT 'cursor', count(*), NULL, NULL, NULL FROM cursor
UNION ALL
SELECT 'export_state', count(*), NULL, NULL, NULL FROM export_state
UNION ALL
SELECT 'counter', count(*), NULL, NULL, NULL FROM counter;
