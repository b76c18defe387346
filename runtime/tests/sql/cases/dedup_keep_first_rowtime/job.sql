-- Deduplication keeping the first row per user by event time (ROW_NUMBER ... ORDER BY
-- ts ASC = 1 on a rowtime attribute). Flink emits this insert-only: a user's row is
-- emitted once the watermark has passed it, so alice's row at :03, which arrives after
-- her row at :05, wins without any retraction, and her later rows (including a tie at
-- :09) are ignored. Rows behind the watermark when they arrive are dropped: carol's row
-- at :02 and dave's only row at :01 (watermark :07 by then) never show up.
CREATE TABLE logins (
  user_name STRING,
  device STRING,
  ts TIMESTAMP(3),
  WATERMARK FOR ts AS ts - INTERVAL '5' SECOND
) WITH (
  'connector' = 'filesystem',
  'path' = '${CASE_DIR}/input.json',
  'format' = 'json'
);

CREATE TABLE print_sink (
  user_name STRING,
  device STRING,
  ts TIMESTAMP(3)
) WITH ('connector' = 'print');

INSERT INTO print_sink
SELECT user_name, device, ts
FROM (
  SELECT *,
    ROW_NUMBER() OVER (PARTITION BY user_name ORDER BY ts ASC) AS rn
  FROM logins
)
WHERE rn = 1;
