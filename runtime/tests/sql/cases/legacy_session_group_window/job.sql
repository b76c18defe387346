-- Legacy group window: GROUP BY device, SESSION(ts, INTERVAL '5' SECOND) with
-- SESSION_START, SESSION_END and SESSION_ROWTIME. Same input as the session TVF case.
CREATE TABLE readings (
  device STRING,
  reading INT,
  ts TIMESTAMP(3),
  WATERMARK FOR ts AS ts - INTERVAL '1' SECOND
) WITH (
  'connector' = 'filesystem',
  'path' = '${CASE_DIR}/input.json',
  'format' = 'json'
);

CREATE TABLE print_sink (
  device STRING,
  s_start TIMESTAMP(3),
  s_end TIMESTAMP(3),
  s_rowtime TIMESTAMP(3),
  cnt BIGINT,
  total INT
) WITH ('connector' = 'print');

INSERT INTO print_sink
SELECT
  device,
  SESSION_START(ts, INTERVAL '5' SECOND),
  SESSION_END(ts, INTERVAL '5' SECOND),
  SESSION_ROWTIME(ts, INTERVAL '5' SECOND),
  COUNT(*),
  SUM(reading)
FROM readings
GROUP BY device, SESSION(ts, INTERVAL '5' SECOND);
