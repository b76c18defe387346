-- Deduplication keeping the last row per user by event time (ROW_NUMBER ... ORDER BY
-- ts DESC = 1 on a rowtime attribute): updating result. A newer row replaces the kept one
-- immediately (-U/+U); an older row (bob's :11 after :12, carol's :02 after :10) is
-- ignored; a row with the same timestamp as the kept one (alice's watch at :09) replaces
-- it. Late rows are not dropped: dave's only row at :01 arrives behind the watermark
-- (:07) and is still emitted.
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
    ROW_NUMBER() OVER (PARTITION BY user_name ORDER BY ts DESC) AS rn
  FROM logins
)
WHERE rn = 1;
