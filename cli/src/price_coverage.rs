//! `dd0c bench`: how many of the database classes RDS sells (`pricing/coverage/rds-classes.json`)
//! and of the current EC2 instance types (`pricing/coverage/ec2-types.json`) get an exact price,
//! a labelled estimate, or nothing (goal: nothing = 0).

use std::collections::BTreeMap;

use dd0c_shared::pricing::{self, PriceEstimate};
use serde::Deserialize;

const RDS_CLASSES_JSON: &str = include_str!("../../pricing/coverage/rds-classes.json");
const EC2_TYPES_JSON: &str = include_str!("../../pricing/coverage/ec2-types.json");

#[derive(Deserialize)]
struct ClassList {
    engine: String,
    classes: BTreeMap<String, Vec<String>>,
}

#[derive(Deserialize)]
struct TypeList {
    types: BTreeMap<String, Vec<String>>,
}

/// Counts of one kind of resource.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Coverage {
    pub exact: usize,
    pub estimated: usize,
    /// The names that got nothing.
    pub nothing: Vec<String>,
}

impl Coverage {
    fn count(&mut self, name: &str, est: &PriceEstimate) {
        match (est.is_known(), est.estimated_from()) {
            (true, None) => self.exact += 1,
            (true, Some(_)) => self.estimated += 1,
            (false, _) => self.nothing.push(name.to_owned()),
        }
    }

    pub fn total(&self) -> usize {
        self.exact + self.estimated + self.nothing.len()
    }

    pub fn line(&self, what: &str) -> String {
        let share = |n: usize| 100.0 * n as f64 / self.total().max(1) as f64;
        format!(
            "{what}: {} — exact {:.1}%, estimated {:.1}%, nothing {:.1}% ({})",
            self.total(),
            share(self.exact),
            share(self.estimated),
            share(self.nothing.len()),
            if self.nothing.is_empty() {
                "ok".to_owned()
            } else {
                format!("MISSED: {}", self.nothing.join(", "))
            }
        )
    }
}

/// Every class of the list, priced Single-AZ in us-east-1.
pub fn rds() -> Coverage {
    let list: ClassList =
        serde_json::from_str(RDS_CLASSES_JSON).expect("pricing/coverage/rds-classes.json is valid");
    let mut coverage = Coverage::default();
    for (class_type, sizes) in &list.classes {
        for size in sizes {
            let class = format!("{class_type}.{size}");
            coverage.count(
                &class,
                &pricing::rds_instance(&class, &list.engine, "us-east-1", false),
            );
        }
    }
    coverage
}

/// Every current EC2 instance type, priced Linux, shared tenancy, on-demand, in us-east-1.
pub fn ec2() -> Coverage {
    let list: TypeList =
        serde_json::from_str(EC2_TYPES_JSON).expect("pricing/coverage/ec2-types.json is valid");
    let mut coverage = Coverage::default();
    for (family, sizes) in &list.types {
        for size in sizes {
            let instance_type = format!("{family}.{size}");
            coverage.count(
                &instance_type,
                &pricing::ec2_instance(
                    &instance_type,
                    "us-east-1",
                    pricing::Platform::Linux,
                    pricing::Tenancy::Shared,
                    false,
                ),
            );
        }
    }
    coverage
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_class_rds_sells_gets_a_price_or_an_estimate() {
        let c = rds();
        assert!(c.total() > 200, "{}", c.total());
        assert!(c.nothing.is_empty(), "{}", c.line("RDS"));
        assert!(c.exact > 0 && c.estimated > 0);
    }

    #[test]
    fn every_current_ec2_type_gets_a_price_or_an_estimate() {
        let c = ec2();
        assert!(c.total() > 1300, "{}", c.total());
        assert!(c.nothing.is_empty(), "{}", c.line("EC2"));
        assert!(c.exact > 0 && c.estimated > 0);
        // Types newer than the price table are estimated, not missed.
        for t in [
            "r9g.large",
            "hpc7a.96xlarge",
            "u-6tb1.metal",
            "m9g.metal-24xl",
        ] {
            let est = pricing::ec2_instance(
                t,
                "us-east-1",
                pricing::Platform::Linux,
                pricing::Tenancy::Shared,
                false,
            );
            assert!(est.estimated_from().is_some(), "{t}: {:?}", est.reasons);
        }
    }
}
