-- Orders from Kafka, a total per customer and minute back to Kafka, exactly once.
--
-- Needs a broker at localhost:9092 with topics `orders` and `order_totals`, for example:
--   bash e2e/scripts/kafka.sh run /tmp/kafka 9092 9093 &
--   bash e2e/scripts/kafka.sh topic localhost:9092 create orders 4
--   bash e2e/scripts/kafka.sh topic localhost:9092 create order_totals 1
--   runnel run examples/kafka/windowed-totals.sql
-- Records look like {"order_id": 1, "customer": "c1", "amount": 12.50}; their event time is
-- the Kafka record's timestamp. Kill the job at any time and start it again with
-- `--from-checkpoint latest`: each total is written once.

SET 'execution.checkpointing.interval' = '10 s';
SET 'table.exec.source.idle-timeout' = '30 s';

CREATE TABLE orders (
  order_id BIGINT,
  customer STRING,
  amount DECIMAL(10, 2),
  ts TIMESTAMP_LTZ(3) METADATA FROM 'timestamp',
  WATERMARK FOR ts AS ts - INTERVAL '5' SECOND
) WITH (
  'connector' = 'kafka',
  'topic' = 'orders',
  'properties.bootstrap.servers' = 'localhost:9092',
  'properties.group.id' = 'windowed-totals',
  'scan.startup.mode' = 'earliest-offset',
  'format' = 'json'
);

CREATE TABLE order_totals (
  customer STRING,
  window_start TIMESTAMP(3),
  orders BIGINT,
  total DECIMAL(10, 2)
) WITH (
  'connector' = 'kafka',
  'topic' = 'order_totals',
  'properties.bootstrap.servers' = 'localhost:9092',
  'format' = 'json',
  'key.format' = 'raw',
  'key.fields' = 'customer',
  'sink.delivery-guarantee' = 'exactly-once',
  'sink.transactional-id-prefix' = 'windowed-totals'
);

INSERT INTO order_totals
SELECT customer, window_start, COUNT(*), SUM(amount)
FROM TABLE(TUMBLE(TABLE orders, DESCRIPTOR(ts), INTERVAL '1' MINUTE))
GROUP BY customer, window_start, window_end;
