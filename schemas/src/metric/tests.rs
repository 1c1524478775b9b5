use proptest::prelude::*;

use super::*;

fn sample(i: u64) -> MetricSample {
    let mut labels = BTreeMap::new();
    if i.is_multiple_of(2) {
        labels.insert("alias".to_string(), format!("uplink {i}"));
    }
    MetricSample {
        time: UtcNanos(1_764_194_055_000_000_000 + i as i64),
        device_id: DeviceId::new(format!("dev-{}", i % 7)),
        device: Arc::from(format!("core-{}", i % 7)),
        metric: MetricName::new(if i.is_multiple_of(3) {
            "if.in_octets"
        } else {
            "icmp.rtt_ms"
        }),
        instance: i.is_multiple_of(3).then(|| Arc::from("Gi0/1")),
        value: i as f64 * 0.25,
        counter: i.is_multiple_of(3).then_some(u64::MAX - i),
        labels,
        collector: Arc::from("icmp"),
    }
}

#[test]
fn arrow_round_trip_keeps_every_field() {
    let samples: Vec<_> = (0..50).map(sample).collect();
    let batch = samples_to_batch(&samples);
    assert_eq!(batch.schema(), metric_schema());
    assert_eq!(batch_to_samples(&batch).unwrap(), samples);
}

#[test]
fn json_round_trip_keeps_counter_exact() {
    let s = sample(3);
    let json = serde_json::to_string(&s).unwrap();
    assert!(
        json.contains(&format!("\"counter\":\"{}\"", u64::MAX - 3)),
        "{json}"
    );
    let back: MetricSample = serde_json::from_str(&json).unwrap();
    assert_eq!(back, s);
}

#[test]
fn json_refuses_unknown_fields() {
    let mut v = serde_json::to_value(sample(1)).unwrap();
    v["surprise"] = serde_json::json!(1);
    let err = serde_json::from_value::<MetricSample>(v).unwrap_err();
    assert!(err.to_string().contains("surprise"), "{err}");
}

#[test]
fn batch_with_wrong_column_type_is_a_clear_error() {
    let schema = Arc::new(Schema::new(vec![Field::new("time", DataType::Utf8, false)]));
    let batch = RecordBatch::try_new(
        schema,
        vec![Arc::new(arrow_array::StringArray::from(vec!["x"])) as ArrayRef],
    )
    .unwrap();
    let err = batch_to_samples(&batch).unwrap_err().to_string();
    assert!(err.contains("`time`"), "{err}");
}

proptest! {
    #[test]
    fn arrow_and_json_round_trip_any_sample(
        t in any::<i64>(),
        value in any::<f64>().prop_filter("NaN is not equal to itself", |v| !v.is_nan()),
        counter in proptest::option::of(any::<u64>()),
        instance in proptest::option::of("[a-zA-Z0-9/ .:-]{0,12}"),
        labels in proptest::collection::btree_map("[a-z_]{1,6}", ".{0,8}", 0..3),
    ) {
        let s = MetricSample {
            time: UtcNanos(t),
            device_id: DeviceId::new("d"),
            device: Arc::from("dev"),
            metric: MetricName::new("m.x"),
            instance: instance.map(Arc::from),
            value,
            counter,
            labels,
            collector: Arc::from("test"),
        };
        let batch = samples_to_batch(std::slice::from_ref(&s));
        prop_assert_eq!(&batch_to_samples(&batch).unwrap()[0], &s);
        if value.is_finite() {
            let json = serde_json::to_string(&s).unwrap();
            prop_assert_eq!(serde_json::from_str::<MetricSample>(&json).unwrap(), s);
        }
    }
}

#[test]
fn raw_counter_value_is_stored_once() {
    let mut s = sample(3);
    s.counter = Some(1 << 60);
    s.value = (1u64 << 60) as f64;
    let mut other = s.clone();
    other.value = 0.5; // a value that is not the counter's copy is kept
    let batch = samples_to_batch(&[s.clone(), other.clone()]);
    let value = batch.column_by_name("value").unwrap();
    assert!(value.is_null(0));
    assert!(!value.is_null(1));
    assert_eq!(batch_to_samples(&batch).unwrap(), vec![s, other]);
}
