//! JUnit XML for CI systems: one test suite per test file, one test case per test.

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use super::TestFile;

/// The report for `files`; `describe` renders a failure's details as text.
pub fn junit_report(files: &[TestFile], describe: &dyn Fn(&TestFile, &super::TestFailure) -> String) -> Report {
    let mut report = Report::new("shipctl test");
    for file in files {
        let mut suite = TestSuite::new(file.name.as_str());
        if let Some(error) = &file.error {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
            status.set_message(error.to_string());
            let mut case = TestCase::new("(loading the test file)", status);
            case.set_classname(file.name.as_str());
            case.extra.insert("file".into(), file.name.as_str().into());
            suite.add_test_case(case);
        }
        for outcome in &file.outcomes {
            let status = match &outcome.failure {
                None => TestCaseStatus::success(),
                Some(failure) => {
                    let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
                    status.set_message(failure.error.to_string());
                    status.set_description(describe(file, failure));
                    status
                }
            };
            let mut case = TestCase::new(outcome.name.as_str(), status);
            case.set_classname(file.name.as_str());
            // GitLab and GitHub's test reporters link a case to its file by this attribute.
            case.extra.insert("file".into(), file.name.as_str().into());
            case.set_time(outcome.duration);
            suite.add_test_case(case);
        }
        suite.set_time(file.duration);
        report.add_test_suite(suite);
    }
    report
}
