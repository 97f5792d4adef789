import { Link } from '../router';
import { PageHeader } from '../components/ui';

export function NotFound() {
  return (
    <>
      <PageHeader title="No such page" />
      <p>
        Nothing lives at this address. Go to the <Link href="/">overview</Link>.
      </p>
    </>
  );
}
