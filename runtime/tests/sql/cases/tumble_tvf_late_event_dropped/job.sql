-- Late events in a TUMBLE window aggregate. The watermark trails the largest timestamp
-- seen by 2 seconds. After the row at :12 the watermark is :10, so the window
-- [:00, :10) fires; the rows at :07 and :05 that arrive afterwards are late and dropped.
-- After :25 the watermark is :23, so [:10, :20) fires and the row at :14 is dropped too.
-- The row at :19 arrives when the watermark is :23 as well and is dropped.
-- The window [:20, :30) is still open at the end of the input and is flushed then.
CREATE TABLE events (
  k STRING,
  v INT,
  ts TIMESTAMP(3),
  WATERMARK FOR ts AS ts - INTERVAL '2' SECOND
) WITH (
  'connector' = 'filesystem',
  'path' = '${CASE_DIR}/input.json',
  'format' = 'json'
);

CREATE TABLE print_sink (
  k STRING,
  window_start TIMESTAMP(3),
  window_end TIMESTAMP(3),
  n BIGINT,
  total INT
) WITH ('connector' = 'print');

INSERT INTO print_sink
SELECT k, window_start, window_end, COUNT(*), SUM(v)
FROM TABLE(TUMBLE(TABLE events, DESCRIPTOR(ts), INTERVAL '10' SECOND))
GROUP BY k, window_start, window_end;
