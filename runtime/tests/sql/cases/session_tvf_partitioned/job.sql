-- SESSION window TVF partitioned by device with a 5 s gap (window_end = last row + gap).
-- d1 has sessions [:00, :11), [:15, :23) and [:40, :45). For d2, the row at :12 arrives
-- after the row at d1's :15 moved the watermark to :14, which fired d2's session
-- [:09, :14). The :12 row is not dropped (its own session would end at :17, after the
-- watermark) but it cannot join the fired session, so it forms a new one, [:12, :17).
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
  window_start TIMESTAMP(3),
  window_end TIMESTAMP(3),
  cnt BIGINT,
  first_reading INT,
  last_reading INT
) WITH ('connector' = 'print');

INSERT INTO print_sink
SELECT device, window_start, window_end, COUNT(*), MIN(reading), MAX(reading)
FROM TABLE(SESSION(TABLE readings PARTITION BY device, DESCRIPTOR(ts), INTERVAL '5' SECOND))
GROUP BY device, window_start, window_end;
