-- Event time on a TIMESTAMP_LTZ(3) rowtime computed from epoch milliseconds
-- (TO_TIMESTAMP_LTZ), with a strictly ascending watermark (WATERMARK FOR ts AS ts, no
-- delay). Times below are 2024-01-01 UTC. s2's row at 00:00:30 arrives after the
-- watermark reached 00:01:00 and s1's row at 00:01:02 after it reached 00:02:05: both
-- are late and dropped. With an LTZ rowtime, window_start/window_end are TIMESTAMP(3) in
-- the session time zone (UTC here) while window_time is a TIMESTAMP_LTZ(3).
CREATE TABLE sensor_readings (
  sensor STRING,
  temp DOUBLE,
  epoch_ms BIGINT,
  ts AS TO_TIMESTAMP_LTZ(epoch_ms, 3),
  WATERMARK FOR ts AS ts
) WITH (
  'connector' = 'filesystem',
  'path' = '${CASE_DIR}/input.json',
  'format' = 'json'
);

CREATE TABLE print_sink (
  sensor STRING,
  window_start TIMESTAMP(3),
  window_end TIMESTAMP(3),
  window_time TIMESTAMP_LTZ(3),
  cnt BIGINT,
  avg_temp DOUBLE
) WITH ('connector' = 'print');

INSERT INTO print_sink
SELECT sensor, window_start, window_end, window_time, COUNT(*), AVG(temp)
FROM TABLE(TUMBLE(TABLE sensor_readings, DESCRIPTOR(ts), INTERVAL '1' MINUTE))
GROUP BY sensor, window_start, window_end, window_time;
