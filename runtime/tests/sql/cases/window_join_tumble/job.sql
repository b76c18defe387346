-- Window join: two TUMBLE (10 s) window TVFs joined on window_start, window_end and a
-- key. Rows join only with rows of the same key in the same window: a@[0,10) gives 2x1
-- pairs, a@[10,20) 1x2, b@[0,10) 1x1 and b@[20,30) 1x1; c and d have no partner. Rows of
-- each input are at most 1 s out of order (the watermark delay), so nothing is late
-- whatever the interleaving of the two inputs (lateness is judged against the smaller of
-- the two inputs' watermarks).
-- The join emits when the windows fire; append-only result.
CREATE TABLE lefts (
  k STRING,
  lv INT,
  ts TIMESTAMP(3),
  WATERMARK FOR ts AS ts - INTERVAL '1' SECOND
) WITH (
  'connector' = 'filesystem',
  'path' = '${CASE_DIR}/left.json',
  'format' = 'json'
);

CREATE TABLE rights (
  k STRING,
  rv INT,
  ts TIMESTAMP(3),
  WATERMARK FOR ts AS ts - INTERVAL '1' SECOND
) WITH (
  'connector' = 'filesystem',
  'path' = '${CASE_DIR}/right.json',
  'format' = 'json'
);

CREATE TABLE print_sink (
  k STRING,
  window_start TIMESTAMP(3),
  window_end TIMESTAMP(3),
  lv INT,
  rv INT
) WITH ('connector' = 'print');

INSERT INTO print_sink
SELECT l.k, l.window_start, l.window_end, l.lv, r.rv
FROM (
  SELECT * FROM TABLE(TUMBLE(TABLE lefts, DESCRIPTOR(ts), INTERVAL '10' SECOND))
) AS l
JOIN (
  SELECT * FROM TABLE(TUMBLE(TABLE rights, DESCRIPTOR(ts), INTERVAL '10' SECOND))
) AS r
ON l.window_start = r.window_start AND l.window_end = r.window_end AND l.k = r.k;
